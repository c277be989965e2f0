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
	// The dead-letter names follow the exchange's, as `purepool setup`
	// names them: purepool.commands → purepool.commands.dlx and .dead.
	topo := rabbitmq.DefaultTopology()
	topo.Exchange = p.cfg.Broker.Exchange
	topo.Queue = p.cfg.Broker.Queue
	topo.DeadLetterExchange = p.cfg.Broker.Exchange + ".dlx"
	topo.DeadLetterQueue = p.cfg.Broker.Exchange + ".dead"
	rc := rabbitmq.Config{URL: p.cfg.Broker.URL, Topology: topo, Logger: p.log.With("component", "rabbitmq"),
		Prefetch: 2 * p.cfg.Broker.Prefetch, Workers: p.cfg.Broker.Prefetch}
	if p.opt.Roles.Frontend {
		rc.Name = "purepool-frontend"
		pub, err := rabbitmq.NewPublisher(rc)
		if err != nil {
			return &config.KeyError{Key: "broker.url", Err: err}
		}
		p.onClose(pub.Close)
		p.publisher = pub
	}
	if p.opt.Roles.Backend {
		rc.Name = "purepool-backend"
		c, err := rabbitmq.NewConsumer(rc)
		if err != nil {
			return &config.KeyError{Key: "broker.url", Err: err}
		}
		p.consumer = c
	}
	return nil
}
