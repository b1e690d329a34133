// Package e2e holds protorun's end-to-end tests, and nothing else: they run
// Protocol 6 for real, with the protorun and sandbox binaries as child
// processes, staging and production on 127.0.0.1 ports chosen by the test,
// the protocol's Python automation scripts, approvals through
// `protorun approve`, and a crash test that kills protorun mid-run and
// resumes it. Run them with go test ./examples/e2e.
package e2e
