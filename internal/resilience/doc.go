// Package resilience holds the tests that restart servers under load: the
// PostgreSQL event store and the RabbitMQ command bus against private
// servers (testenv.NewPrivatePostgres, testenv.NewPrivateRabbitMQ) that the
// tests stop, crash and start while writers, publishers, subscribers and
// consumers keep running. The shared servers are never restarted: other
// packages' tests use them at the same time.
//
// The package has no code of its own; its tests assert the guarantees the
// adapters promise across an outage: nothing acknowledged is lost, nothing
// is applied twice, and no operation reports success while the server is
// down.
package resilience
