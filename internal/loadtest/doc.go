// Package loadtest runs the whole pool on the real services under load:
// the frontend (http.Server on 127.0.0.1), the backend (`purepool backend`
// in a process of its own; events in PostgreSQL, commands over RabbitMQ),
// the projector feeding the frontend's read model, and a simulated node
// (`purepool simnode`, also a process of its own), with many simulated
// wallet miners (package simminer) asking for work and submitting shares
// in a loop. The backend and the node run apart from the load generator as
// they are deployed apart: in one process the Go scheduler would share the
// CPU among the miners' thousands of goroutines and the backend's 64
// handlers alike, and the figures would measure the load generator.
//
// The test is skipped unless PUREPOOL_LOAD=1, since it takes minutes and
// saturates the machine:
//
//	PUREPOOL_LOAD=1 go test ./internal/loadtest -run TestPoolUnderLoad -v -timeout 30m
//
// Knobs (environment): PUREPOOL_LOAD_MINERS (default 1000),
// PUREPOOL_LOAD_DURATION (default 60s), PUREPOOL_LOAD_ROUNDS (most rounds
// per miner, default 100000: the duration is the real bound),
// PUREPOOL_LOAD_BASELINE (default 10s: the bare net/http baseline run with
// the same miners), PUREPOOL_LOAD_WORKERS (backend command handlers,
// default 64 like `purepool backend --consumers`), PUREPOOL_LOAD_RM_CONNS
// (the frontend's read-model connections, default 16; 0 leaves database/sql
// unbounded), PUREPOOL_LOAD_PG_CONNS (the event store's pgxpool size;
// default pgx's max(4, cores), as `purepool backend`),
// PUREPOOL_LOAD_BACKEND=inproc (the node and the backend in this
// process, as before), PUREPOOL_LOAD_HEAPPROFILE and
// PUREPOOL_LOAD_CPUPROFILE (files to write this process's profiles to).
//
// It fails on any 5xx or other non-200 answer, any protocol error answered
// to an honest miner, any acknowledged share whose outcome is not stored
// exactly once, and it logs the figures: requests/s and latency
// percentiles next to a bare net/http handler measured with the same
// miners in the same run, accepted shares/s end to end, how many outcomes
// the backend stored while the load lasted and how fast it drained the rest,
// the CPU of this process and of the backend's, and the heap (HeapInuse
// every second: start, peak, end).
//
// BenchmarkRound is the benchmark variant: one miner round (readytomine2,
// a share mined on a fresh template, solution) through the same stack per
// iteration, with b.RunParallel.
package loadtest
