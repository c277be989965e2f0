package app

// The command bus between the frontend and the backend: the in-process
// bus, or RabbitMQ.

import (
	"github.com/purepool/purepool/commands/inproc"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/config"
)

func (p *Pool) openBus() error {
	if p.cfg.Broker.URL == "" {
		b := inproc.New()
		p.onClose(b.Close)
		p.publisher, p.consumer = b, b
		return nil
	}
	topo := rabbitmq.DefaultTopology()
	topo.Exchange = p.cfg.Broker.Exchange
	topo.Queue = p.cfg.Broker.Queue
	topo.DeadLetterExchange, topo.DeadLetterQueue = p.cfg.Broker.DeadLetterNames()
	rc := rabbitmq.Config{URL: p.cfg.Broker.URL, Topology: topo, Logger: p.log.With("component", "rabbitmq"),
		Prefetch: 2 * p.cfg.Broker.Prefetch, Workers: p.cfg.Broker.Prefetch,
		BatchSize: p.cfg.Broker.BatchSize, BatchDelay: p.cfg.Broker.BatchDelay.Duration}
	if p.opt.Roles.Frontend {
		rc.Name = "purepool-frontend"
		pub, err := rabbitmq.NewPublisher(rc)
		if err != nil {
			return &config.KeyError{Key: "broker.url", Err: err}
		}
		p.onClose(pub.Close)
		p.publisher = pub
	}
	if p.opt.Roles.Backend && !p.cfg.Backend.JobsOnly {
		rc.Name = "purepool-backend"
		c, err := rabbitmq.NewConsumer(rc)
		if err != nil {
			return &config.KeyError{Key: "broker.url", Err: err}
		}
		p.consumer = c
	}
	return nil
}
