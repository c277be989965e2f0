package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/config"
)

func init() {
	register("run", "run every role in one process against a real node (small pool on one machine; --config FILE)", runAll)
}

func runAll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	file := fs.String("config", "", "configuration file (TOML; 'purepool config example' prints one)")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageError{errors.New("--config FILE is required")}
	}
	return runRolesFromConfig(ctx, app.AllRoles, *file, *logFormat, stdout, stderr)
}

// runRolesFromConfig runs the given roles as the configuration file says;
// `purepool run` and the role subcommands' --config use it.
func runRolesFromConfig(ctx context.Context, roles app.Roles, file, logFormat string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(file)
	if err != nil {
		return err
	}
	var handler slog.Handler = slog.NewJSONHandler(stderr, nil)
	if logFormat == "text" {
		handler = slog.NewTextHandler(stderr, nil)
	}
	p, err := app.Open(ctx, cfg, app.Options{Roles: roles, Logger: slog.New(handler)})
	if err != nil {
		return err
	}
	defer p.Close()
	var names []string
	for _, r := range []struct {
		on   bool
		name string
	}{{roles.Frontend, "frontend"}, {roles.Backend, "backend"}, {roles.Projector, "projector"}} {
		if r.on {
			names = append(names, r.name)
		}
	}
	where := ""
	for _, a := range p.Addrs() {
		where += " " + a.String()
	}
	if where != "" {
		where = ", listening on" + where
	}
	var uses []string
	if roles.Backend || roles.Projector {
		uses = append(uses, "events "+storeKind(app.EventsURL(cfg)))
	}
	if roles.Frontend || roles.Projector {
		uses = append(uses, "read model "+storeKind(app.ReadModelURL(cfg)))
	}
	if roles.Frontend || roles.Backend {
		if cfg.Broker.URL != "" {
			uses = append(uses, "RabbitMQ")
		} else {
			uses = append(uses, "in-process bus")
		}
	}
	fmt.Fprintf(stdout, "purepool %s running (%s)%s\n", strings.Join(names, " + "), strings.Join(uses, ", "), where)
	return p.Run(ctx)
}

// storeKind names a store URL's kind without its credentials.
func storeKind(u string) string {
	kind, rest, _ := strings.Cut(u, "://")
	if kind == "sqlite" {
		return "SQLite " + rest
	}
	return kind
}

// configOnly refuses role flags next to --config: the file is the whole
// configuration, and a flag silently ignored would mislead.
func configOnly(fs *flag.FlagSet) error {
	var set []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "config" && f.Name != "log-format" {
			set = append(set, "--"+f.Name)
		}
	})
	if len(set) > 0 {
		return usageError{fmt.Errorf("%s cannot be combined with --config (set it in the file)", strings.Join(set, ", "))}
	}
	return nil
}

// roleFromConfig runs one role subcommand from --config FILE (the systemd
// units' form) instead of its flags.
func roleFromConfig(ctx context.Context, fs *flag.FlagSet, roles app.Roles, file, logFormat string, stdout, stderr io.Writer) error {
	if err := configOnly(fs); err != nil {
		return err
	}
	return runRolesFromConfig(ctx, roles, file, logFormat, stdout, stderr)
}

// configFlagHelp documents --config on the role subcommands.
const configFlagHelp = "configuration file (TOML, as the systemd units use); replaces the other flags"
