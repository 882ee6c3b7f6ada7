// Command tlogcheck audits a letter's transparency log with the Go checksum
// database's own packages, golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog, which nobody in this project wrote
// (tests/signatures/test_log_go.py builds and runs it).
//
// Usage:
//
//	tlogcheck -log http://127.0.0.1:8000/log/<slug> -key <verifier key> < claims.json
//
// It fetches the checkpoint and verifies its signed note with the verifier
// key; reads the tree through tlog.TileHashReader (which authenticates every
// tile it reads against the signed root); fetches every entry bundle and
// rebuilds the whole hash storage from the entries alone with
// tlog.StoredHashes, then compares every tile the server serves with
// tlog.ReadTileData of that storage; proves and checks the inclusion of every
// entry (tlog.ProveRecord, tlog.CheckRecord) and the consistency of every
// published checkpoint with the current tree (tlog.ProveTree, tlog.CheckTree);
// and checks the proofs the server side computed (claims.json: inclusion and
// consistency proofs from signatures.log_selectors) with CheckRecord and
// CheckTree. It prints a JSON summary and exits 1 on the first failure.
//
// C2SP tile paths are Go's sumdb tile paths without the height element:
// Go's tile/8/0/x001/234.p/5 is the log's tile/0/x001/234.p/5, and Go's
// data tiles (tile/8/data/...) are the log's entry bundles (tile/entries/...).
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

type claims struct {
	Inclusion []struct {
		Index    int64    `json:"index"`
		TreeSize int64    `json:"tree_size"`
		Proof    []string `json:"proof"`
	} `json:"inclusion"`
	Consistency []struct {
		OldSize int64    `json:"old_size"`
		OldRoot string   `json:"old_root"`
		NewSize int64    `json:"new_size"`
		Proof   []string `json:"proof"`
	} `json:"consistency"`
}

type summary struct {
	Origin               string `json:"origin"`
	TreeSize             int64  `json:"tree_size"`
	Root                 string `json:"root"`
	Entries              int    `json:"entries"`
	TilesCompared        int    `json:"tiles_compared"`
	PartialTiles         int    `json:"partial_tiles"`
	Levels               int    `json:"levels"`
	RecordsProved        int    `json:"records_proved"`
	CheckpointsChecked   int    `json:"checkpoints_checked"`
	ClaimedInclusions    int    `json:"claimed_inclusions"`
	ClaimedConsistencies int    `json:"claimed_consistencies"`
	ProofsAsGoProves     bool   `json:"proofs_as_go_proves"`
}

var client = &http.Client{Timeout: 30 * time.Second}

func fetch(url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// c2spPath turns Go's sumdb tile path into the C2SP one.
func c2spPath(t tlog.Tile) string {
	path := strings.TrimPrefix(t.Path(), "tile/"+strconv.Itoa(height)+"/")
	path = strings.Replace(path, "data/", "entries/", 1)
	return "tile/" + path
}

// tileReader serves tlog.TileHashReader from the log's HTTP endpoints,
// fetching each tile once (TileHashReader still authenticates it on every
// read against the tree it was made for).
type tileReader struct {
	base    string
	fetched map[string][]byte
}

func (r *tileReader) Height() int { return height }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		path := c2spPath(t)
		data, ok := r.fetched[path]
		if !ok {
			var err error
			if data, err = fetch(r.base + "/" + path); err != nil {
				return nil, err
			}
			r.fetched[path] = data
		}
		out[i] = data
	}
	return out, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func parseCheckpoint(text string) (origin string, tree tlog.Tree, err error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return "", tree, errors.New("malformed checkpoint")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || lines[1] != strconv.FormatInt(n, 10) {
		return "", tree, errors.New("malformed tree size")
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		return "", tree, err
	}
	return lines[0], tlog.Tree{N: n, Hash: h}, nil
}

func openCheckpoint(msg []byte, verifiers note.Verifiers) (string, tlog.Tree, error) {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		return "", tlog.Tree{}, err
	}
	return parseCheckpoint(n.Text)
}

func parseBundle(data []byte) ([][]byte, error) {
	var entries [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, errors.New("bundle ends inside a length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return nil, errors.New("bundle ends inside an entry")
		}
		entries = append(entries, data[2:2+n])
		data = data[2+n:]
	}
	return entries, nil
}

func decodeHashes(encoded []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(encoded))
	for i, e := range encoded {
		h, err := tlog.ParseHash(e)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

func run() (*summary, error) {
	base := flag.String("log", "", "the log's prefix, e.g. http://127.0.0.1:8000/log/<slug>")
	key := flag.String("key", "", "the log's signed-note verifier key")
	flag.Parse()
	verifier, err := note.NewVerifier(*key)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %v", err)
	}
	verifiers := note.VerifierList(verifier)
	var claimed claims
	if err := json.NewDecoder(os.Stdin).Decode(&claimed); err != nil {
		return nil, fmt.Errorf("claims on stdin: %v", err)
	}

	// The checkpoint, as a signed note of the verifier key.
	msg, err := fetch(*base + "/checkpoint")
	if err != nil {
		return nil, err
	}
	origin, tree, err := openCheckpoint(msg, verifiers)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %v", err)
	}
	if origin != verifier.Name() {
		return nil, fmt.Errorf("checkpoint origin %q is not the key's name %q", origin, verifier.Name())
	}
	s := &summary{Origin: origin, TreeSize: tree.N, Root: tree.Hash.String()}

	// The tree through tiles authenticated against the signed root.
	reader := &tileReader{base: *base, fetched: map[string][]byte{}}
	hashes := tlog.TileHashReader(tree, reader)
	root, err := tlog.TreeHash(tree.N, hashes)
	if err != nil {
		return nil, fmt.Errorf("tree hash from tiles: %v", err)
	}
	if root != tree.Hash {
		return nil, errors.New("tiles do not hash to the checkpoint's root")
	}

	// The tiles of this tree: NewTiles lists every width of each partial
	// tile (Go's sumdb publishes them all); the tree's own is the widest.
	published := tlog.NewTiles(height, 0, tree.N)
	var final []tlog.Tile
	for _, t := range published {
		if len(final) > 0 && final[len(final)-1].L == t.L && final[len(final)-1].N == t.N {
			final[len(final)-1] = t
		} else {
			final = append(final, t)
		}
	}

	// Every entry, from the entry bundles; the hash storage rebuilt from
	// the entries alone.
	var entries [][]byte
	for _, t := range final {
		if t.L != 0 {
			continue
		}
		data := tlog.Tile{H: height, L: -1, N: t.N, W: t.W}
		body, err := fetch(*base + "/" + c2spPath(data))
		if err != nil {
			return nil, err
		}
		bundle, err := parseBundle(body)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", c2spPath(data), err)
		}
		if len(bundle) != t.W {
			return nil, fmt.Errorf("%s has %d entries, not %d", c2spPath(data), len(bundle), t.W)
		}
		entries = append(entries, bundle...)
	}
	if int64(len(entries)) != tree.N {
		return nil, fmt.Errorf("%d entries for a tree of %d", len(entries), tree.N)
	}
	s.Entries = len(entries)
	var storage []tlog.Hash
	memory := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x >= int64(len(storage)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = storage[x]
		}
		return out, nil
	})
	for i, entry := range entries {
		more, err := tlog.StoredHashes(int64(i), entry, memory)
		if err != nil {
			return nil, err
		}
		storage = append(storage, more...)
	}
	rebuilt, err := tlog.TreeHash(tree.N, memory)
	if err != nil || rebuilt != tree.Hash {
		return nil, fmt.Errorf("the entries do not hash to the checkpoint's root (%v)", err)
	}

	// Every tile the server serves for this tree, and every narrower width
	// of its partial tiles (those of earlier tree sizes), equals the rebuilt one.
	levels := map[int]bool{}
	for _, t := range final {
		if t.W < 1<<height {
			s.PartialTiles++
		}
		levels[t.L] = true
	}
	s.Levels = len(levels)
	for _, t := range published {
		served, err := fetch(*base + "/" + c2spPath(t))
		if err != nil {
			return nil, err
		}
		expected, err := tlog.ReadTileData(t, memory)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(served, expected) {
			return nil, fmt.Errorf("tile %s differs from the one rebuilt from the entries", c2spPath(t))
		}
		s.TilesCompared++
	}

	// The inclusion of every entry, proved from the authenticated tiles.
	for i, entry := range entries {
		proof, err := tlog.ProveRecord(tree.N, int64(i), hashes)
		if err != nil {
			return nil, fmt.Errorf("prove record %d: %v", i, err)
		}
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, int64(i), tlog.RecordHash(entry)); err != nil {
			return nil, fmt.Errorf("record %d: %v", i, err)
		}
		s.RecordsProved++
	}

	// Every published checkpoint: signed, and a prefix of this tree.
	listed, err := fetch(*base + "/checkpoints")
	if err != nil {
		return nil, err
	}
	var checkpoints []struct {
		Size int64  `json:"size"`
		Root string `json:"root"`
		Note string `json:"note"`
	}
	if err := json.Unmarshal(listed, &checkpoints); err != nil {
		return nil, err
	}
	for _, p := range checkpoints {
		_, old, err := openCheckpoint([]byte(p.Note), verifiers)
		if err != nil {
			return nil, fmt.Errorf("published checkpoint %d: %v", p.Size, err)
		}
		if old.N != p.Size || old.Hash.String() != p.Root || old.N > tree.N {
			return nil, fmt.Errorf("published checkpoint %d does not match its note", p.Size)
		}
		proof, err := tlog.ProveTree(tree.N, old.N, hashes)
		if err != nil {
			return nil, err
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, old.N, old.Hash); err != nil {
			return nil, fmt.Errorf("checkpoint %d is not a prefix of %d: %v", old.N, tree.N, err)
		}
		// The older tree read through the tiles (partial ones of its width).
		oldRoot, err := tlog.TreeHash(old.N, tlog.TileHashReader(old, reader))
		if err != nil || oldRoot != old.Hash {
			return nil, fmt.Errorf("tiles of size %d: %v", old.N, err)
		}
		s.CheckpointsChecked++
	}

	// The proofs the server side computed, checked by Go and compared with Go's.
	s.ProofsAsGoProves = true
	for _, c := range claimed.Inclusion {
		proof, err := decodeHashes(c.Proof)
		if err != nil {
			return nil, err
		}
		var treeRoot tlog.Hash
		if treeRoot, err = tlog.TreeHash(c.TreeSize, memory); err != nil {
			return nil, err
		}
		leaf := tlog.RecordHash(entries[c.Index])
		if err := tlog.CheckRecord(proof, c.TreeSize, treeRoot, c.Index, leaf); err != nil {
			return nil, fmt.Errorf("claimed inclusion of %d in %d: %v", c.Index, c.TreeSize, err)
		}
		goProof, err := tlog.ProveRecord(c.TreeSize, c.Index, memory)
		if err != nil {
			return nil, err
		}
		s.ProofsAsGoProves = s.ProofsAsGoProves && fmt.Sprint(goProof) == fmt.Sprint(tlog.RecordProof(proof))
		s.ClaimedInclusions++
	}
	for _, c := range claimed.Consistency {
		proof, err := decodeHashes(c.Proof)
		if err != nil {
			return nil, err
		}
		oldRoot, err := tlog.ParseHash(c.OldRoot)
		if err != nil {
			return nil, err
		}
		newRoot, err := tlog.TreeHash(c.NewSize, memory)
		if err != nil {
			return nil, err
		}
		if err := tlog.CheckTree(proof, c.NewSize, newRoot, c.OldSize, oldRoot); err != nil {
			return nil, fmt.Errorf("claimed consistency %d -> %d: %v", c.OldSize, c.NewSize, err)
		}
		goProof, err := tlog.ProveTree(c.NewSize, c.OldSize, memory)
		if err != nil {
			return nil, err
		}
		s.ProofsAsGoProves = s.ProofsAsGoProves && fmt.Sprint(goProof) == fmt.Sprint(tlog.TreeProof(proof))
		s.ClaimedConsistencies++
	}
	return s, nil
}

func main() {
	s, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlogcheck:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(s)
	fmt.Println(string(out))
}
