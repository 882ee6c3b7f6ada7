"""State changes of the signatures app, one module per step of signing:

- eligibility: identities, work-email codes, invite codes, attestations;
- issuance: the letter's issuer key and blind-token issuance;
- redemption: a token becomes a signature;
- receipts: a signer's later status check and withdrawal;
- common: the token format, API input decoding, refusal explanations.

Unlinkability rules these modules keep (docs/security.md):

- Issuance knows the identity (as an HMAC) and the *blinded* message; it stores
  only the HMAC and a date. Redemption knows the *unblinded* token; it stores
  only the token's hash and what the signer chose to show. Nothing passed to
  one side is stored or logged where the other side could find it.
- Nothing here logs an email address, a code, an account id, a token or a
  receipt.
- Uniqueness (one token per identity per letter, one signature per token) is a
  database constraint: we insert, never read first, and a conflicting insert
  does nothing (ON CONFLICT DO NOTHING) rather than raise: PostgreSQL logs
  every unique violation with the conflicting key, caught or not.
"""
