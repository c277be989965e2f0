package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/config"
)

// adminCommands builds each admin command from its flags. The backend
// handles them like every other command: through the bus, idempotently.
var adminCommands = map[string]struct {
	summary string
	build   func(id uuid.UUID, network, address, reason, payout, txid string, at time.Time) (commands.Command, error)
}{
	"disable-miner": {"refuse a miner's work requests (--address, --reason)", func(id uuid.UUID, n, a, r, _, _ string, at time.Time) (commands.Command, error) {
		return commands.DisableMiner{ID: id, Network: n, Address: a, Reason: r, At: at}, needAddress(n, a)
	}},
	"enable-miner": {"let a disabled miner work again (--address)", func(id uuid.UUID, n, a, _, _, _ string, at time.Time) (commands.Command, error) {
		return commands.EnableMiner{ID: id, Network: n, Address: a, At: at}, needAddress(n, a)
	}},
	"pause-payouts": {"stop the network's payout schedule (--reason)", func(id uuid.UUID, n, _, r, _, _ string, at time.Time) (commands.Command, error) {
		return commands.PausePayouts{ID: id, Network: n, Reason: r, At: at}, nil
	}},
	"resume-payouts": {"restart the network's payout schedule", func(id uuid.UUID, n, _, _, _, _ string, at time.Time) (commands.Command, error) {
		return commands.ResumePayouts{ID: id, Network: n, At: at}, nil
	}},
	"trigger-payout": {"run a payout now instead of at its scheduled time", func(id uuid.UUID, n, _, _, _, _ string, at time.Time) (commands.Command, error) {
		return commands.TriggerPayout{ID: id, Network: n, At: at}, nil
	}},
	"reconcile-payout": {"settle a halted payout (--payout ID; --txid when you found it on the chain yourself)", func(id uuid.UUID, n, _, _, p, tx string, at time.Time) (commands.Command, error) {
		pid, err := uuid.Parse(p)
		if err != nil {
			return nil, fmt.Errorf("--payout %q is not a payout id: %w", p, err)
		}
		return commands.ReconcilePayout{ID: id, Network: n, PayoutID: pid, TxID: tx, At: at}, nil
	}},
	"adopt-wallet-payout": {"record in the ledger a payout transaction of this pool that a restored backup lost (--txid)", func(id uuid.UUID, n, _, _, _, tx string, at time.Time) (commands.Command, error) {
		if tx == "" {
			return nil, errors.New("adopt-wallet-payout needs --txid (the wallet's payout transaction the ledger does not know)")
		}
		return commands.AdoptWalletPayout{ID: id, Network: n, TxID: tx, At: at}, nil
	}},
	"correct-payout": {"undo a payout recorded as sent in a transaction that does not pay it (--payout ID --txid TX --reason)", func(id uuid.UUID, n, _, r, p, tx string, at time.Time) (commands.Command, error) {
		pid, err := uuid.Parse(p)
		if err != nil {
			return nil, fmt.Errorf("--payout %q is not a payout id: %w", p, err)
		}
		if tx == "" || strings.TrimSpace(r) == "" {
			return nil, errors.New("correct-payout needs --txid (the transaction it is wrongly recorded in) and --reason")
		}
		return commands.CorrectPayout{ID: id, Network: n, PayoutID: pid, TxID: tx, Reason: r, At: at}, nil
	}},
}

func needAddress(network, address string) error {
	n, ok := biblepay.LookupNetwork(network)
	if !ok {
		return fmt.Errorf("--network %q is not main, test or regtest", network)
	}
	return n.ValidateAddress(address)
}

func init() {
	register("admin", "publish an admin command to the backend: "+strings.Join(adminNames(), ", "), runAdmin)
}

func adminNames() []string {
	names := make([]string, 0, len(adminCommands))
	for n := range adminCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || adminCommands[args[0]].build == nil {
		fmt.Fprintln(stderr, "usage: purepool admin <command> [flags]; commands:")
		for _, n := range adminNames() {
			fmt.Fprintf(stderr, "  %-17s %s\n", n, adminCommands[n].summary)
		}
		if len(args) == 0 {
			return usageError{errors.New("no admin command")}
		}
		return usageError{fmt.Errorf("unknown admin command %q", args[0])}
	}
	name := args[0]
	fs := newFlagSet("admin "+name, stderr)
	configFile := fs.String("config", "", "configuration file: its broker.url and broker.exchange are used")
	amqpURL := fs.String("amqp-url", "", "RabbitMQ URL of a user allowed to publish to the commands exchange")
	exchange := fs.String("amqp-exchange", rabbitmq.DefaultTopology().Exchange, "commands exchange")
	network := fs.String("network", "main", "network: main, test or regtest")
	address := fs.String("address", "", "the miner's address (disable-miner, enable-miner)")
	reason := fs.String("reason", "", "why (disable-miner, pause-payouts); recorded in the ledger")
	payout := fs.String("payout", "", "payout id (reconcile-payout)")
	txid := fs.String("txid", "", "transaction id that paid the payout (reconcile-payout; empty: the backend asks the wallet)")
	socket := fs.String("socket", "", "admin socket of a pool on the in-process bus (`purepool run` without broker.url; default with --config: data_dir/admin.sock)")
	timeout := fs.Duration("timeout", 15*time.Second, "longest wait for the broker's confirmation")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *configFile != "" {
		cfg, err := config.Load(*configFile)
		if err != nil {
			return err
		}
		*amqpURL, *exchange = cfg.Broker.URL, cfg.Broker.Exchange
		if *amqpURL == "" && *socket == "" {
			// The in-process bus: the pool takes admin commands on its socket.
			*socket = app.AdminSocketPath(cfg)
		}
	}
	if *amqpURL == "" && *socket == "" {
		return usageError{errors.New("give --amqp-url, --socket or --config")}
	}
	id := uuid.New()
	cmd, err := adminCommands[name].build(id, *network, *address, *reason, *payout, *txid, time.Now().UTC())
	if err != nil {
		return usageError{err}
	}
	if _, ok := biblepay.LookupNetwork(*network); !ok {
		return usageError{fmt.Errorf("--network %q is not main, test or regtest", *network)}
	}
	if *amqpURL == "" {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		if err := app.SendAdmin(ctx, *socket, cmd); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s handed to the pool (the backend records it; see the logs or the website)\n", cmd.CommandName(), id)
		return nil
	}
	msg, err := commands.Encode(cmd)
	if err != nil {
		return err
	}
	top := rabbitmq.DefaultTopology()
	top.Exchange = *exchange
	pub, err := rabbitmq.NewPublisher(rabbitmq.Config{URL: *amqpURL, Topology: top, Name: "purepool-admin",
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return usageError{err}
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := pub.WaitReady(ctx); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := pub.Publish(ctx, msg); err != nil {
		return fmt.Errorf("publish %s: %w", msg.Name, err)
	}
	fmt.Fprintf(stdout, "%s %s published (the backend records it; see the logs or the website)\n", msg.Name, msg.ID)
	return nil
}
