package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
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
	return runRoles(ctx, roles, cfg, logFormat, stdout, stderr)
}

// runRoles opens the roles of cfg through app.Open and runs them: the one
// wiring path of `purepool run`, the role subcommands' --config and their
// flags alike.
func runRoles(ctx context.Context, roles app.Roles, cfg config.Config, logFormat string, stdout, stderr io.Writer) error {
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
		if roles.Backend && !roles.Frontend && cfg.Backend.JobsOnly {
			uses = append(uses, "no command consumed: jobs only")
		} else if cfg.Broker.URL != "" {
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
	if path, err := config.SQLitePath(u); err == nil {
		return "SQLite " + path
	}
	kind, _, _ := strings.Cut(u, "://")
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

// configFlagHelp documents --config on the role subcommands.
const configFlagHelp = "configuration file (TOML, as the systemd units use); replaces the other flags"

// runRole runs one role subcommand. Its flags (defined by define, which
// returns what turns them into a configuration) fill a config.Config,
// or --config FILE gives one; either way the role starts through app.Open.
func runRole(ctx context.Context, name string, roles app.Roles, define func(*flag.FlagSet) func() (config.Config, error),
	args []string, stdout, stderr io.Writer) error {
	fs, configFile, logFormat, build := roleFlagSet(name, stderr, define)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *configFile != "" {
		if err := configOnly(fs); err != nil {
			return err
		}
		return runRolesFromConfig(ctx, roles, *configFile, *logFormat, stdout, stderr)
	}
	cfg, err := build()
	if err != nil {
		return usageError{err}
	}
	if err := cfg.Validate(); err != nil && !(roles == app.Roles{Projector: true} && errors.Is(err, config.ErrNoNetwork)) {
		return usageError{flagError(fs, err)}
	}
	if err := runRoles(ctx, roles, cfg, *logFormat, stdout, stderr); err != nil {
		return flagError(fs, err)
	}
	return nil
}

// roleFlagSet is a role subcommand's flag set: --config, --log-format and
// the role's own flags.
func roleFlagSet(name string, stderr io.Writer, define func(*flag.FlagSet) func() (config.Config, error)) (
	fs *flag.FlagSet, configFile, logFormat *string, build func() (config.Config, error)) {
	fs = newFlagSet(name, stderr)
	configFile = fs.String("config", "", configFlagHelp)
	logFormat = fs.String("log-format", "json", "log format: json or text")
	return fs, configFile, logFormat, define(fs)
}

// keySuffix marks, at the end of a flag's usage, the configuration key it
// sets: `-h` shows it, and errors about the key name the flag.
var keySuffix = regexp.MustCompile(` \[key ([a-z_.]+)\]$`)

// flagKey is the configuration key a flag sets ("" for --config and
// --log-format, which are not in the file).
func flagKey(f *flag.Flag) string {
	if m := keySuffix.FindStringSubmatch(f.Usage); m != nil {
		return m[1]
	}
	return ""
}

var keyIndex = regexp.MustCompile(`\[\d+\]`)

// flagError names the flags instead of the key of a configuration error,
// since in flag mode there is no file to look the key up in.
func flagError(fs *flag.FlagSet, err error) error {
	var ke *config.KeyError
	if !errors.As(err, &ke) {
		return err
	}
	key := keyIndex.ReplaceAllString(ke.Key, "")
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if flagKey(f) == key {
			names = append(names, "--"+f.Name)
		}
	})
	if len(names) == 0 {
		return err
	}
	return fmt.Errorf("%s (%s): %w", strings.Join(names, ", "), ke.Key, ke.Err)
}
