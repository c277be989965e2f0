// Package stress holds the suites that prove Purepool pays nothing twice and
// loses nothing: a crash matrix that SIGKILLs a real backend process at every
// named crash point of share-out and payout (and at random instants) while
// the simulated node's wallet fails in each of its ways; duplicate and
// reordered command delivery through the backend's handlers; and restarts of
// RabbitMQ and PostgreSQL under load from simulated miners.
//
// The default `go test` runs a short variant of each (a handful of runs);
// PUREPOOL_STRESS=1 runs the long ones (50 randomised crash runs, more
// restart rounds). The package has no code of its own.
package stress
