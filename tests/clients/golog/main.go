// golog publishes a transparency log the way Go's checksum database does,
// with golang.org/x/mod/sumdb/tlog and .../note (Debian: golang-golang-x-mod-dev):
// an implementation nobody here wrote, for clients/sign.py's tests.
//
// Input (stdin, JSON):
//
//	{"origin": "<name>", "entries": ["<base64 entry>", ...],
//	 "checkpoints": [<tree size>, ...], "signer_key": "<note signer key>" (optional)}
//
// Output, in the directory given as the only argument, laid out as C2SP
// tlog-tiles serves it: tile/<L>/<N>[.p/<W>] (sumdb's tile/8/<L>/... without
// the height), tile/entries/<N>[.p/<W>] (each entry after its 2-byte
// big-endian length), checkpoint (the last size), checkpoint.<size> for each
// size asked, verifier_key and signer_key.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type input struct {
	Origin      string   `json:"origin"`
	Entries     []string `json:"entries"`
	Checkpoints []int64  `json:"checkpoints"`
	SignerKey   string   `json:"signer_key"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func write(dir, path string, data []byte) {
	full := filepath.Join(dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		fail(err)
	}
	if err := os.WriteFile(full, data, 0o644); err != nil {
		fail(err)
	}
}

func main() {
	dir := os.Args[1]
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail(err)
	}
	skey, vkey := in.SignerKey, ""
	if skey == "" {
		var err error
		if skey, vkey, err = note.GenerateKey(rand.Reader, in.Origin); err != nil {
			fail(err)
		}
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		fail(err)
	}

	var entries [][]byte
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, text := range in.Entries {
		entry, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			fail(err)
		}
		entries = append(entries, entry)
		hashes, err := tlog.StoredHashes(int64(i), entry, reader)
		if err != nil {
			fail(err)
		}
		stored = append(stored, hashes...)
	}
	size := int64(len(entries))

	for _, tile := range tlog.NewTiles(8, 0, size) {
		data, err := tlog.ReadTileData(tile, reader)
		if err != nil {
			fail(err)
		}
		write(dir, strings.Replace(tile.Path(), "tile/8/", "tile/", 1), data)
		if tile.L == 0 {
			// The entry bundle beside the level-0 tile of the same width.
			var bundle []byte
			start := tile.N << 8
			for i := int64(0); i < int64(tile.W); i++ {
				bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entries[start+i])))
				bundle = append(bundle, entries[start+i]...)
			}
			write(dir, strings.Replace(tile.Path(), "tile/8/0/", "tile/entries/", 1), bundle)
		}
	}

	sign := func(n int64) []byte {
		root, err := tlog.TreeHash(n, reader)
		if err != nil {
			fail(err)
		}
		text := fmt.Sprintf("%s\n%d\n%s\n", in.Origin, n, base64.StdEncoding.EncodeToString(root[:]))
		msg, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			fail(err)
		}
		return msg
	}
	for _, n := range in.Checkpoints {
		write(dir, fmt.Sprintf("checkpoint.%d", n), sign(n))
	}
	write(dir, "checkpoint", sign(size))
	write(dir, "signer_key", []byte(skey))
	if vkey != "" {
		write(dir, "verifier_key", []byte(vkey))
	}
}
