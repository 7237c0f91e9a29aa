// Package fuzzcorpus keeps the committed seed corpora of Keyward's fuzz targets
// (testdata/fuzz/<FuzzName>/ next to each target, in the `go test fuzz v1` format).
//
// The seeds are computed by the fuzz targets themselves (valid ceremony responses from
// internal/softauthn, requests from the harness, and hand-made nasty inputs), so the corpus can
// be regenerated whenever a format changes:
//
//	KEYWARD_WRITE_FUZZ_CORPUS=1 go test -run '^Fuzz' ./ui ./oidc ./cmd/keyward
//
// In every other run a target only checks that its committed corpus is there, so deleting it
// by accident fails the build instead of silently weakening the fuzzing in CI.
package fuzzcorpus
