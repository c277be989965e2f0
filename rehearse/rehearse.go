// Package rehearse is `purepool rehearse`: a dress rehearsal of the
// three-server layout on one machine, before the pool is pointed at a real
// node. It takes the operator's own configuration file, so that their
// PostgreSQL, RabbitMQ (and MariaDB) settings and role credentials are what
// get exercised, and swaps the node for the simulated one:
//
//   - the rehearsal's databases and vhost are the operator's names plus a
//     suffix (default "_rehearsal"), created fresh and marked, so the real
//     ones are never written;
//   - `purepool migrate` and `purepool setup` provision them as on the data
//     server (docs/operations.md 4.2), with the roles' own users;
//   - the simulated node, the backend, the projector, the frontend and the
//     simulated miners run as separate processes of this very binary, each
//     role with its own environment (the units' env files) and a derived
//     configuration file;
//   - it waits for the first payout on the website, prints how long it took
//     from setup, runs on until told to stop, stops every process in order
//     and audits the ledger.
package rehearse

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/provision"
)

// envAMQPAdminPassword is where `purepool setup` also takes the RabbitMQ
// administrator's password from.
const envAMQPAdminPassword = "PUREPOOL_AMQP_ADMIN_PASSWORD"

// DefaultSuffix is appended to the operator's database and vhost names.
const DefaultSuffix = "_rehearsal"

// Options configure a rehearsal. Zero values take the defaults noted.
type Options struct {
	ConfigFile string // the operator's configuration (required)
	Binary     string // the purepool binary to run (required: os.Executable())
	Dir        string // rehearsal folder: derived file, logs (default ./purepool-rehearsal)
	Network    string // the network rehearsed (default the file's first)
	// Suffix is appended to the PostgreSQL and MariaDB databases and the
	// RabbitMQ vhost; empty means the operator's own, which needs IKnow.
	Suffix string
	IKnow  bool
	// Reset drops the databases of an earlier rehearsal (marked as such)
	// and purges its queues.
	Reset bool
	// Administrators, as `purepool setup` takes them. Defaults: the
	// superuser postgres, guest and root on the hosts the file names.
	PGAdmin, AMQPAdmin, MySQLAdmin string
	MySQLHost                      string // host part of the MariaDB users (default %)
	// EnvFiles are the roles' environment files (e.g.
	// /etc/purepool/backend.env) added to this process's environment.
	EnvFiles map[Role]string
	Addr     string // the frontend's listen address (default 127.0.0.1:0)
	Miners   int    // simulated miners (default 4)
	// The simulated network: block time (default 2s), maturity on both
	// the node and the pool (default 10), payouts (default every 5s, from 1 BBP).
	BlockTime       time.Duration
	Maturity        int64
	PayoutInterval  time.Duration
	MinPayoutSat    int64
	ShareDifficulty int64 // the fixed share target's difficulty (default 2000)
	SharesPerBlock  int64 // shares per block found, on average (default 8)
	// Duration stops the rehearsal this long after it started (0: when ctx
	// ends). PayoutTimeout fails it when no payout shows by then (default 10m).
	Duration      time.Duration
	PayoutTimeout time.Duration
	Stdout        io.Writer
}

func (o *Options) defaults() {
	if o.Dir == "" {
		o.Dir = "purepool-rehearsal"
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Miners <= 0 {
		o.Miners = 4
	}
	if o.BlockTime <= 0 {
		o.BlockTime = 2 * time.Second
	}
	if o.Maturity <= 0 {
		o.Maturity = 10
	}
	if o.PayoutInterval <= 0 {
		o.PayoutInterval = 5 * time.Second
	}
	if o.MinPayoutSat <= 0 {
		o.MinPayoutSat = biblepay.Coin
	}
	if o.ShareDifficulty <= 0 {
		o.ShareDifficulty = 2000
	}
	if o.SharesPerBlock <= 0 {
		o.SharesPerBlock = 8
	}
	if o.PayoutTimeout <= 0 {
		o.PayoutTimeout = 10 * time.Minute
	}
	if o.MySQLHost == "" {
		o.MySQLHost = provision.DefaultMySQL().Host
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
}

// Payout is the first payout as the website's API showed it.
type Payout struct {
	ID       string `json:"payout_id"`
	Status   string `json:"status"`
	TotalSat int64  `json:"total_sat"`
	TxID     string `json:"txid"`
}

// Result is what a rehearsal showed.
type Result struct {
	Website string // e.g. http://127.0.0.1:41234/test/
	// SetupToPayout is from the start of `purepool setup` until the first
	// payout showed on the website.
	SetupToPayout time.Duration
	FirstPayout   Payout
	AuditClean    bool
}

// plan is the rehearsal worked out from the operator's file, before
// anything is written.
type plan struct {
	file    operatorFile
	network biblepay.Network
	env     map[Role]Env
	base    Env

	events, readModel, broker string // the derived URLs, ${NAME} kept
	pgDB, vhost, mysqlDB      string // the rehearsal's names
	own                       bool   // no suffix: the operator's own names

	pgAdmin, pgAdminDB, mysqlAdmin string
	// amqpAdminSetup is the RabbitMQ administrator as given (setup reads a
	// password it lacks from the environment); amqpAdmin has the password.
	amqpAdminSetup, amqpAdmin string

	// topology is the command exchange and queues the file names (the
	// defaults when it names none): setup provisions those.
	topology rabbitmq.Topology

	pgBackend, pgProjector, pgFrontend credentials
	amqpFrontend, amqpBackend          credentials
	myFrontend, myProjector            credentials
}

// Run rehearses until opt.Duration passes or ctx ends (Ctrl-C), then stops
// every process and audits. It returns an error if anything failed: setup,
// a child that died, no payout within PayoutTimeout, or the audit.
func Run(ctx context.Context, opt Options) (*Result, error) {
	opt.defaults()
	started := time.Now()
	if opt.ConfigFile == "" || opt.Binary == "" {
		return nil, errors.New("rehearse: the configuration file and the binary are required")
	}
	p, err := makePlan(opt)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opt.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("rehearse: folder: %w", err)
	}
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return nil, err
	}
	out := opt.Stdout
	fmt.Fprintf(out, "purepool rehearse: network %s on your servers, in the rehearsal's own databases:\n", p.network.Name)
	fmt.Fprintf(out, "  writes PostgreSQL database %s (events and read model) at %s\n", p.pgDB, hostOf(p.pgAdmin))
	if p.mysqlDB != "" {
		fmt.Fprintf(out, "  writes MariaDB database %s (read model)\n", p.mysqlDB)
	}
	fmt.Fprintf(out, "  writes RabbitMQ vhost %s\n", p.vhost)
	fmt.Fprintf(out, "  creates or updates the roles' users (purepool setup): PostgreSQL %s, %s, %s; RabbitMQ %s, %s\n",
		p.pgBackend.user, p.pgProjector.user, p.pgFrontend.user, p.amqpFrontend.user, p.amqpBackend.user)
	fmt.Fprintf(out, "  folder %s (derived configuration, logs)\n", dir)

	// Stores first: nothing is provisioned into a database that may be real.
	if err := preparePostgres(ctx, p.pgAdmin, p.pgDB, p.own, opt.Reset); err != nil {
		return nil, fmt.Errorf("rehearse: %w", err)
	}
	if p.mysqlDB != "" {
		if err := prepareMySQL(ctx, p.mysqlAdmin, p.mysqlDB, p.own, opt.Reset); err != nil {
			return nil, fmt.Errorf("rehearse: %w", err)
		}
	}
	setupStart := time.Now()
	if err := provisionStores(ctx, opt, p, dir); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "setup and migrate done in %s (logs %s, %s)\n", time.Since(setupStart).Round(100*time.Millisecond),
		filepath.Join(dir, "migrate.log"), filepath.Join(dir, "setup.log"))

	r := &rehearsal{opt: opt, plan: p, dir: dir, out: out}
	res, runErr := r.run(ctx, started, setupStart)
	stopErr := r.stopAll()
	var auditErr error
	if res != nil {
		res.AuditClean, auditErr = r.audit(context.WithoutCancel(ctx))
	}
	err = errors.Join(runErr, stopErr, auditErr)
	if err == nil {
		fmt.Fprintf(out, "rehearsal passed: every process stopped cleanly, the audit is clean; first payout %s after setup began\n",
			res.SetupToPayout.Round(100*time.Millisecond))
	} else {
		fmt.Fprintf(out, "rehearsal FAILED (logs in %s)\n", dir)
	}
	return res, err
}

// makePlan reads the operator's file and works out names and credentials.
func makePlan(opt Options) (*plan, error) {
	text, err := os.ReadFile(opt.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("rehearse: %w", err)
	}
	f, err := parseOperatorFile(string(text))
	if err != nil {
		return nil, fmt.Errorf("rehearse: %s: %w", opt.ConfigFile, err)
	}
	if opt.Suffix == "" && !opt.IKnow {
		return nil, errors.New("rehearse: an empty --suffix rehearses in your own databases and vhost; that needs --i-know (and they must hold no event)")
	}
	if opt.Suffix != "" && !regexp.MustCompile(`^[A-Za-z0-9_]{1,20}$`).MatchString(opt.Suffix) {
		return nil, fmt.Errorf("rehearse: --suffix %q: letters, digits and _ only (at most 20)", opt.Suffix)
	}
	p := &plan{file: f, own: opt.Suffix == "", base: ProcessEnv(), env: map[Role]Env{}}
	for _, role := range Roles {
		p.env[role] = p.base
		if path := opt.EnvFiles[role]; path != "" {
			if p.env[role], err = ReadEnvFile(p.base, path); err != nil {
				return nil, fmt.Errorf("rehearse: %s environment: %w", role, err)
			}
		}
	}
	// The network: the file's first, or the one asked for.
	nets := f.networks()
	if len(nets) == 0 {
		return nil, fmt.Errorf("rehearse: %s has no [[network]]", opt.ConfigFile)
	}
	var chosen map[string]any
	for _, n := range nets {
		if name, _ := n["name"].(string); opt.Network == "" || name == opt.Network {
			chosen = n
			break
		}
	}
	if chosen == nil {
		return nil, fmt.Errorf("rehearse: --network %s: %s has no such [[network]]", opt.Network, opt.ConfigFile)
	}
	name, _ := chosen["name"].(string)
	var ok bool
	if p.network, ok = biblepay.LookupNetwork(name); !ok {
		return nil, fmt.Errorf("rehearse: network %q is not main, test or regtest", name)
	}
	f["network"] = []map[string]any{chosen}

	rename := func(s string) string { return s + opt.Suffix }
	events := f.str("store", "events")
	if !strings.HasPrefix(events, "postgres://") && !strings.HasPrefix(events, "postgresql://") {
		return nil, errors.New("rehearse: store.events must be PostgreSQL (postgres://…): the three-server layout keeps the events on the data server")
	}
	if p.events, err = withPostgresDB(events, rename); err != nil {
		return nil, fmt.Errorf("rehearse: store.events: %w", err)
	}
	rm := f.str("store", "readmodel")
	switch {
	case strings.HasPrefix(rm, "postgres://"), strings.HasPrefix(rm, "postgresql://"):
		p.readModel, err = withPostgresDB(rm, rename)
	case strings.HasPrefix(rm, "mysql://"):
		p.readModel, err = withMySQLDB(rm, rename)
	default:
		err = errors.New("must be PostgreSQL (postgres://…) or MariaDB (mysql://…) on the data server")
	}
	if err != nil {
		return nil, fmt.Errorf("rehearse: store.readmodel: %w", err)
	}
	broker := f.str("broker", "url")
	if !strings.HasPrefix(broker, "amqp://") && !strings.HasPrefix(broker, "amqps://") {
		return nil, errors.New("rehearse: broker.url must be RabbitMQ (amqp://…): the frontend and the backend run in separate processes")
	}
	if p.broker, err = withVHost(broker, rename); err != nil {
		return nil, fmt.Errorf("rehearse: broker.url: %w", err)
	}
	// The operator's exchange and queue names, with the dead-letter names
	// derived as the configuration derives them: setup provisions exactly
	// those, so the roles' users get the permissions the file needs.
	p.topology = rabbitmq.DefaultTopology()
	b := config.Broker{Exchange: cmp.Or(f.str("broker", "exchange"), p.topology.Exchange),
		DeadLetterExchange: f.str("broker", "dead_letter_exchange"), DeadLetterQueue: f.str("broker", "dead_letter_queue")}
	p.topology.Exchange, p.topology.Queue = b.Exchange, cmp.Or(f.str("broker", "queue"), p.topology.Queue)
	p.topology.DeadLetterExchange, p.topology.DeadLetterQueue = b.DeadLetterNames()

	// Each role's own view of the URLs: the users setup must provision.
	expand := func(role Role, key, raw string) (string, error) {
		s, err := p.env[role].Expand(raw)
		if err != nil {
			return "", fmt.Errorf("rehearse: %s, in the %s's environment: %w (give --env-%s FILE, e.g. /etc/purepool/%s.env)", key, role, err, role, role)
		}
		return s, nil
	}
	type use struct {
		role  Role
		key   string
		raw   string
		creds *credentials
	}
	uses := []use{
		{Backend, "store.events", p.events, &p.pgBackend},
		{Projector, "store.events", p.events, &p.pgProjector},
		{Backend, "broker.url", p.broker, &p.amqpBackend},
		{Frontend, "broker.url", p.broker, &p.amqpFrontend},
	}
	isMySQL := strings.HasPrefix(rm, "mysql://")
	if isMySQL {
		uses = append(uses, use{Projector, "store.readmodel", p.readModel, &p.myProjector}, use{Frontend, "store.readmodel", p.readModel, &p.myFrontend})
	} else {
		uses = append(uses, use{Frontend, "store.readmodel", p.readModel, &p.pgFrontend})
	}
	expanded := map[string]string{}
	for _, u := range uses {
		s, err := expand(u.role, u.key, u.raw)
		if err != nil {
			return nil, err
		}
		expanded[string(u.role)+" "+u.key] = s
		if isMySQL && u.key == "store.readmodel" {
			*u.creds, err = mysqlCredentials(s)
		} else {
			*u.creds, err = urlCredentials(s)
		}
		if err != nil {
			return nil, fmt.Errorf("rehearse: %s in the %s's environment: %w", u.key, u.role, err)
		}
	}
	if isMySQL {
		// The projector also reads the events: the PostgreSQL frontend
		// role is provisioned all the same (setup makes all three).
		p.pgFrontend = credentials{user: provision.DefaultPostgres().Frontend}
	} else {
		s, err := expand(Projector, "store.readmodel", p.readModel)
		if err != nil {
			return nil, err
		}
		if dbOf(s) != dbOf(expanded["projector store.events"]) {
			return nil, errors.New("rehearse: store.readmodel on PostgreSQL must be the event store's database (as purepool setup provisions it)")
		}
	}
	distinct := func(what string, names ...string) error {
		seen := map[string]bool{}
		for _, n := range names {
			if n == "" || seen[n] {
				return fmt.Errorf("rehearse: the %s users are %q: each role needs its own user (docs/operations.md 4.3; give --env-frontend, --env-backend, --env-projector)", what, names)
			}
			seen[n] = true
		}
		return nil
	}
	if err := distinct("PostgreSQL backend, projector and frontend", p.pgBackend.user, p.pgProjector.user, p.pgFrontend.user); err != nil {
		return nil, err
	}
	if err := distinct("RabbitMQ frontend and backend", p.amqpFrontend.user, p.amqpBackend.user); err != nil {
		return nil, err
	}
	if isMySQL {
		if err := distinct("MariaDB frontend and projector", p.myFrontend.user, p.myProjector.user); err != nil {
			return nil, err
		}
	}

	// The rehearsal's names and the administrators.
	evURL, _ := url.Parse(expanded["backend store.events"])
	p.pgDB = dbOf(expanded["backend store.events"])
	amqpURL, _ := url.Parse(expanded["backend broker.url"])
	p.vhost, _ = url.PathUnescape(strings.TrimPrefix(amqpURL.EscapedPath(), "/"))
	p.pgAdmin = opt.PGAdmin
	if p.pgAdmin == "" {
		p.pgAdmin = (&url.URL{Scheme: "postgres", User: url.User("postgres"), Host: evURL.Host, Path: "/postgres", RawQuery: evURL.RawQuery}).String()
	}
	if p.pgAdminDB, err = pgURLWithDB(p.pgAdmin, p.pgDB); err != nil {
		return nil, fmt.Errorf("rehearse: %w", err)
	}
	if adminUser := userOf(p.pgAdmin); adminUser == p.pgBackend.user || adminUser == p.pgProjector.user || adminUser == p.pgFrontend.user {
		return nil, fmt.Errorf("rehearse: the PostgreSQL administrator %q is also a role's user: the roles need their own users", adminUser)
	}
	// The RabbitMQ administrator as setup takes it: the password in the
	// URL or in PUREPOOL_AMQP_ADMIN_PASSWORD (kept out of ps). The purge
	// of the rehearsal's queues needs it in the URL.
	adminPassword, inEnv := p.base[envAMQPAdminPassword]
	p.amqpAdminSetup = opt.AMQPAdmin
	if p.amqpAdminSetup == "" {
		admin := &url.URL{Scheme: amqpURL.Scheme, User: url.User("guest"), Host: amqpURL.Host, Path: "/"}
		if !inEnv {
			admin.User = url.UserPassword("guest", "guest")
		}
		p.amqpAdminSetup = admin.String()
	}
	au, err := url.Parse(p.amqpAdminSetup)
	if err != nil || (au.Scheme != "amqp" && au.Scheme != "amqps") || au.Host == "" {
		return nil, errors.New("rehearse: --amqp-admin: want amqp://admin[:password]@host:5672/")
	}
	if _, has := au.User.Password(); !has && inEnv && au.User != nil {
		au.User = url.UserPassword(au.User.Username(), adminPassword)
	}
	p.amqpAdmin = au.String()
	if isMySQL {
		c, err := mysql.ParseDSN(strings.TrimPrefix(expanded["projector store.readmodel"], "mysql://"))
		if err != nil {
			return nil, fmt.Errorf("rehearse: store.readmodel: %w", err)
		}
		p.mysqlDB = c.DBName
		p.mysqlAdmin = opt.MySQLAdmin
		if p.mysqlAdmin == "" {
			p.mysqlAdmin = "root@" + c.Net + "(" + c.Addr + ")/"
		}
	}
	return p, nil
}

// dbOf is the database of a postgres:// URL.
func dbOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

func userOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return ""
	}
	return u.User.Username()
}

// hostOf shows a URL's host without its credentials.
func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "?"
}

// provisionStores runs `purepool migrate` and `purepool setup` into the
// rehearsal's databases and vhost, as docs/operations.md 4.2 does on the
// data server, with the passwords of the roles' own URLs.
func provisionStores(ctx context.Context, opt Options, p *plan, dir string) error {
	if _, err := runOnce(ctx, opt.Binary, dir, "migrate", p.base, "migrate", "--store", p.pgAdminDB); err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	args := []string{"setup",
		"-pg", p.pgAdminDB, "-pg-backend-role", p.pgBackend.user, "-pg-projector-role", p.pgProjector.user, "-pg-frontend-role", p.pgFrontend.user,
		"-amqp", p.amqpAdminSetup, "-amqp-vhost", p.vhost, "-amqp-frontend-user", p.amqpFrontend.user, "-amqp-backend-user", p.amqpBackend.user,
		"-amqp-exchange", p.topology.Exchange, "-amqp-queue", p.topology.Queue,
		"-amqp-dead-letter-exchange", p.topology.DeadLetterExchange, "-amqp-dead-letter-queue", p.topology.DeadLetterQueue,
	}
	env := p.base.With(
		"PUREPOOL_PG_BACKEND_PASSWORD", p.pgBackend.password,
		"PUREPOOL_PG_PROJECTOR_PASSWORD", p.pgProjector.password,
		"PUREPOOL_PG_FRONTEND_PASSWORD", p.pgFrontend.password,
		"PUREPOOL_AMQP_FRONTEND_PASSWORD", p.amqpFrontend.password,
		"PUREPOOL_AMQP_BACKEND_PASSWORD", p.amqpBackend.password,
		"PUREPOOL_MYSQL_FRONTEND_PASSWORD", p.myFrontend.password,
		"PUREPOOL_MYSQL_PROJECTOR_PASSWORD", p.myProjector.password,
	)
	if p.mysqlDB != "" {
		args = append(args, "-mysql", p.mysqlAdmin, "-mysql-database", p.mysqlDB, "-mysql-frontend-user", p.myFrontend.user,
			"-mysql-projector-user", p.myProjector.user, "-mysql-host", opt.MySQLHost)
	}
	if _, err := runOnce(ctx, opt.Binary, dir, "setup", env, args...); err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	if err := purgeQueues(ctx, p.amqpAdmin, p.vhost, p.topology); err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	return nil
}

// rehearsal is a running rehearsal's processes.
type rehearsal struct {
	opt  Options
	plan *plan
	dir  string
	out  io.Writer

	node                          *proc
	backend, projector, frontend  *proc
	miners                        []*proc
	projectorMetrics, backendMets string // host:port
}

var (
	nodeBanner     = regexp.MustCompile(`RPC at (http://\S+), wallet \(pool\) address (\S+),`)
	frontendBanner = regexp.MustCompile(`purepool frontend running .*listening on (\S+)`)
	roleBanner     = regexp.MustCompile(`purepool \w+ running`)
)

// readyTimeout bounds a child's start (generous: CI shares two cores).
const readyTimeout = 90 * time.Second

func (r *rehearsal) all() []*proc {
	var ps []*proc
	for _, p := range append([]*proc{r.node, r.backend, r.projector, r.frontend}, r.miners...) {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// run starts the processes, waits for the first payout and then for the
// end; the caller stops the processes.
func (r *rehearsal) run(ctx context.Context, started, setupStart time.Time) (*Result, error) {
	opt, p, out := r.opt, r.plan, r.out
	password, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	// The network target makes SharesPerBlock shares per block on average
	// (network difficulty = hash rate × block time, as the demo does).
	hashRate := float64(opt.ShareDifficulty*opt.SharesPerBlock) / opt.BlockTime.Seconds()
	r.node, err = start(opt.Binary, r.dir, "simnode", p.base, "simnode", "-network", p.network.Name, "-listen", "127.0.0.1:0",
		"-rpcuser", "purepool", "-rpcpassword", password, "-blocktime", opt.BlockTime.String(),
		"-maturity", strconv.FormatInt(opt.Maturity, 10), "-hashrate", strconv.FormatFloat(hashRate, 'f', -1, 64))
	if err != nil {
		return nil, err
	}
	m, err := r.node.await(ctx, nodeBanner, readyTimeout)
	if err != nil {
		return nil, fmt.Errorf("rehearse: %w", err)
	}
	nodeURL, poolAddress := m[1], m[2]
	fmt.Fprintf(out, "simulated node: %s, pool address %s (its wallet's)\n", nodeURL, poolAddress)

	r.backendMets, err = freeAddr()
	if err != nil {
		return nil, err
	}
	if r.projectorMetrics, err = freeAddr(); err != nil {
		return nil, err
	}
	derived, err := r.writeConfig(nodeURL, password, poolAddress)
	if err != nil {
		return nil, err
	}
	for _, role := range Roles {
		if _, err := runOnce(ctx, opt.Binary, r.dir, "config-check-"+string(role), p.env[role], "config", "check", derived); err != nil {
			return nil, fmt.Errorf("rehearse: the derived configuration in the %s's environment: %w", role, err)
		}
	}
	// The frontend last: it reads the views the projector creates at its
	// start (systemd would restart it until they exist; here it waits).
	for _, role := range Roles {
		c, err := start(opt.Binary, r.dir, string(role), p.env[role], string(role), "--config", derived, "--log-format", "text")
		if err != nil {
			return nil, err
		}
		switch role {
		case Backend:
			r.backend = c
		case Projector:
			r.projector = c
		case Frontend:
			r.frontend = c
		}
		if role != Frontend {
			if _, err := c.await(ctx, roleBanner, readyTimeout); err != nil {
				return nil, fmt.Errorf("rehearse: %w", err)
			}
		}
	}
	m, err = r.frontend.await(ctx, frontendBanner, readyTimeout)
	if err != nil {
		return nil, fmt.Errorf("rehearse: %w", err)
	}
	site := "http://" + m[1]
	res := &Result{Website: site + "/" + p.network.Name + "/"}

	for i := range opt.Miners {
		addr := p.network.Address([20]byte{0xde, 0x30, byte(i >> 8), byte(i)})
		c, err := start(opt.Binary, r.dir, fmt.Sprintf("miner%d", i+1), p.base, "simminer", "-pool", site,
			"-worker", fmt.Sprintf("%s/rig%d", addr, i+1), "-network", p.network.Name, "-node", nodeURL,
			"-rpcuser", "purepool", "-rpcpassword", password, "-shareinterval", "1s", "-workinterval", "1s", "-report", "0")
		if err != nil {
			return res, err
		}
		r.miners = append(r.miners, c)
	}
	fmt.Fprintf(out, "where to look:\n")
	fmt.Fprintf(out, "  website            %s  (payouts: %spayouts, API: %sapi/payouts)\n", res.Website, res.Website, res.Website)
	fmt.Fprintf(out, "  metrics            %s/metrics (pool), http://%s/metrics (backend), http://%s/metrics (projector)\n", site, r.backendMets, r.projectorMetrics)
	fmt.Fprintf(out, "  configuration      %s\n", derived)
	for _, c := range r.all() {
		fmt.Fprintf(out, "  log %-14s %s\n", c.name, c.log)
	}

	var stop <-chan time.Time
	if opt.Duration > 0 {
		t := time.NewTimer(time.Until(started.Add(opt.Duration)))
		defer t.Stop()
		stop = t.C
	}
	payoutDeadline := time.NewTimer(opt.PayoutTimeout)
	defer payoutDeadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	seen := false
	for {
		if err := failures(r.all()); err != nil {
			return res, fmt.Errorf("rehearse: %w", err)
		}
		if !seen {
			if po, ok := firstPayout(ctx, site+"/"+p.network.Name+"/api/payouts?limit=500"); ok {
				seen = true
				res.FirstPayout = po
				res.SetupToPayout = time.Since(setupStart)
				fmt.Fprintf(out, "first payout on the website %s after setup began: %s BBP, %s, payout %s (%s)\n",
					res.SetupToPayout.Round(100*time.Millisecond), biblepay.FormatBBP(po.TotalSat), po.Status, po.ID, res.Website+"payouts")
				if opt.Duration == 0 {
					fmt.Fprintln(out, "the rehearsal runs on; Ctrl-C stops it (every process, then the audit)")
				}
			}
		}
		select {
		case <-ctx.Done():
			if !seen {
				return res, errors.New("rehearse: interrupted before the first payout")
			}
			return res, nil
		case <-stop:
			if !seen {
				return res, fmt.Errorf("rehearse: no payout within --duration %s", opt.Duration)
			}
			return res, nil
		case <-payoutDeadline.C:
			if !seen {
				return res, fmt.Errorf("rehearse: no payout on the website within %s; see the logs in %s", opt.PayoutTimeout, r.dir)
			}
		case <-tick.C:
		}
	}
}

// firstPayout asks the website's API for a payout that went out.
func firstPayout(ctx context.Context, api string) (Payout, bool) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, api, nil)
	if err != nil {
		return Payout{}, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Payout{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Payout{}, false
	}
	var page struct {
		Items []Payout `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return Payout{}, false
	}
	// Newest first: the oldest that reached the chain is the first payout.
	for _, po := range slices.Backward(page.Items) {
		if po.Status == "sent" || po.Status == "confirmed" {
			return po, true
		}
	}
	return Payout{}, false
}

// writeConfig writes the derived configuration file (0600: it names the
// simulated node's password).
func (r *rehearsal) writeConfig(nodeURL, password, poolAddress string) (string, error) {
	opt, p := r.opt, r.plan
	f := p.file
	f["data_dir"] = filepath.Join(r.dir, "data")
	store := f.table("store")
	store["events"], store["readmodel"] = p.events, p.readModel
	f.table("broker")["url"] = p.broker
	fe := f.table("frontend")
	fe["listen"] = opt.Addr
	// The operator's TLS listener (443, certificates) stays with production.
	fe["tls_listen"], fe["tls_cert"], fe["tls_key"] = "", "", ""
	fe["rate_limit_per_minute"] = int64(-1) // every simulated miner comes from 127.0.0.1
	be := f.table("backend")
	be["chain_poll"] = max(opt.BlockTime/4, 20*time.Millisecond).String()
	be["solution_retry_deadline"] = "10s"
	be["funding_check"] = "10s"
	be["vardiff_interval"] = "0s" // a fixed share target: the rehearsal's pace is chosen
	be["metrics_listen"] = r.backendMets
	f.table("projector")["metrics_listen"] = r.projectorMetrics
	u, err := url.Parse(nodeURL)
	if err != nil {
		return "", err
	}
	u.User = url.UserPassword("purepool", password)
	n := f.networks()[0]
	n["pool_address"] = poolAddress // the simulated node's wallet: its coinbases pay it, payouts leave from it
	n["node_url"] = u.String()
	n["maturity"] = opt.Maturity // the same as the node's -maturity
	n["min_payout"] = biblepay.FormatBBP(opt.MinPayoutSat)
	n["payout_interval"] = opt.PayoutInterval.String()
	n["default_target"] = biblepay.TargetForDifficulty(opt.ShareDifficulty)
	n["payout_confirmations"] = int64(2)
	b, err := f.encode()
	if err != nil {
		return "", fmt.Errorf("rehearse: derived configuration: %w", err)
	}
	path := filepath.Join(r.dir, "purepool.toml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// stopAll stops the processes in the order that loses nothing: miners,
// then the backend (the only writer), then the projector once it has
// projected everything, the frontend, and the node last.
func (r *rehearsal) stopAll() error {
	const grace = 30 * time.Second
	var errs []error
	for _, m := range r.miners {
		errs = append(errs, m.stop(grace))
	}
	if r.backend != nil {
		errs = append(errs, r.backend.stop(grace))
	}
	if r.projector != nil && !r.projector.exited() {
		if err := waitProjected(r.projectorMetrics, grace); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range []*proc{r.projector, r.frontend, r.node} {
		if c != nil {
			errs = append(errs, c.stop(grace))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	if len(r.all()) > 0 {
		fmt.Fprintf(r.out, "stopped: %d processes, each exited cleanly\n", len(r.all()))
	}
	return nil
}

// waitProjected waits until the projector's metrics show no lag: the
// audit then compares a complete read model.
func waitProjected(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		lag, ok := scrapeGauge("http://"+addr+"/metrics", "purepool_projector_lag_events")
		if ok && lag == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the projector still lags %v events %s after the backend stopped", lag, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func scrapeGauge(u, name string) (float64, bool) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// audit runs `purepool audit` over the rehearsal's event store and read
// model (as the administrator, whose URL setup already took).
func (r *rehearsal) audit(ctx context.Context) (bool, error) {
	p := r.plan
	rm := p.pgAdminDB
	if p.mysqlDB != "" {
		c, err := mysql.ParseDSN(p.mysqlAdmin)
		if err != nil {
			return false, err
		}
		c.DBName = p.mysqlDB
		rm = "mysql://" + c.FormatDSN()
	}
	proc, err := start(r.opt.Binary, r.dir, "audit", p.base, "audit", "--quiet", "--store", p.pgAdminDB, "--readmodel", rm)
	if err != nil {
		return false, err
	}
	<-proc.done
	report := proc.out.String()
	verdict := "clean"
	var exit *exec.ExitError
	switch {
	case proc.waitErr == nil:
	case errors.As(proc.waitErr, &exit) && exit.ExitCode() == 1:
		verdict = "VIOLATIONS"
	default:
		verdict = "could not run"
	}
	fmt.Fprintf(r.out, "audit: %s (report %s)\n", verdict, proc.log)
	if verdict != "clean" {
		fmt.Fprintln(r.out, indent(strings.TrimSpace(report)))
		return false, fmt.Errorf("rehearse: the audit: %s; its log %s ends:\n%s", verdict, proc.log, indent(tailFile(proc.log, 1500)))
	}
	return true, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// freeAddr is a loopback address that was free a moment ago (the metrics
// listeners: the children bind it; a clash fails their start, loudly).
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
