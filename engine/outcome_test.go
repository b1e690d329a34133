package engine_test

import "github.com/protorun/protorun/engine"

// exitCode sums a result up as the protorun CLI's exit code does (its
// exitFor, which cmd/protorun tests): 0 completed; 1 failed, all rolled
// back; 3 halted for an approval; 4 a rollback failed or deploys were left
// in place; 5 halted on a failure. The engine's tests assert outcomes in
// these compact terms; the engine itself knows no exit codes.
func exitCode(res *engine.Result) int {
	switch {
	case engine.Completed(res.Status):
		return 0
	case res.Awaiting() == engine.AwaitingFailure:
		return 5
	case res.Awaiting() == engine.AwaitingApproval:
		return 3
	case res.Status == engine.StatusRollbackFailed, len(res.LeftInPlace) > 0:
		return 4
	}
	return 1
}
