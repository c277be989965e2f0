// Package crashpoint puts named crash-injection points into the backend's
// critical sequences (payouts above all), so that a stress suite can kill the
// process at every step and check that nothing is lost or done twice.
//
// A point fires when the environment variable PUREPOOL_CRASHPOINT names it
// (the process then exits at once with status 137, as after SIGKILL: no
// deferred function runs), or when a test installed a hook with SetHook.
package crashpoint

import (
	"os"
	"sync"
)

// Env names the crash point that kills the process.
const Env = "PUREPOOL_CRASHPOINT"

// ExitCode is the status of a crash, the same as a SIGKILLed process.
const ExitCode = 137

// The backend's crash points.
const (
	PayoutAfterPlan      = "payout.after_plan"      // PayoutPlanned stored, nothing built
	PayoutAfterSign      = "payout.after_sign"      // transaction signed, PayoutSigned not stored (nothing locked yet)
	PayoutBeforeSend     = "payout.before_send"     // PayoutSigned stored, not broadcast
	PayoutAfterSend      = "payout.after_send"      // sendrawtransaction answered, PayoutSent not stored
	PayoutAfterRecord    = "payout.after_record"    // PayoutSent stored
	ChainAfterRPC        = "chain.after_rpc"        // a block read from the node, not recorded
	SolutionBeforeAppend = "solution.before_append" // decided, not stored
	// Between the writes of a decision stored one stream at a time
	// (backend.Config.StepWrites, or a store without atomic multi-stream
	// writes): hit before every write but the first.
	SolutionBetweenWrites = "solution.between_writes" // bible hash reserved (and a new worker), solution not stored
	WorkBetweenWrites     = "work.between_writes"     // a new miner or worker registered, work not stored
	ChainBetweenWrites    = "chain.between_writes"    // a pool block discovered or orphaned, chain height not stored
)

var (
	mu    sync.RWMutex
	hook  func(name string)
	armed = os.Getenv(Env)
)

// SetHook installs a function called at every point (nil removes it). Tests
// use it to simulate a crash with a panic or to count passes.
func SetHook(h func(name string)) {
	mu.Lock()
	hook = h
	mu.Unlock()
}

// Hit marks that execution reached the named point.
func Hit(name string) {
	if armed != "" && armed == name {
		os.Exit(ExitCode)
	}
	mu.RLock()
	h := hook
	mu.RUnlock()
	if h != nil {
		h(name)
	}
}
