// Command fairreport prints the fairness figures of issue 12 from a Purepool
// event store (read only). Usage:
//
//	fairreport [-json] [-ok-log FILE] [-from RFC3339 -to RFC3339] STORE
//
// STORE is a SQLite file (a demo's DATA/events.db) or a PostgreSQL URL.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/purepool/purepool/internal/fairreport"
)

func main() {
	asJSON := flag.Bool("json", false, "print JSON instead of text")
	okLog := flag.String("ok-log", "", "file of solution or SubmitSolution command ids answered ok, one per line")
	from := flag.String("from", "", "with -to: report the shares received in [from, to) (RFC 3339)")
	to := flag.String("to", "", "end of the receive-time window (RFC 3339)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: fairreport [-json] [-ok-log FILE] [-from T -to T] STORE (SQLite file or postgres:// URL)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	var opt fairreport.Options
	if (*from == "") != (*to == "") {
		fail(fmt.Errorf("-from and -to go together"))
	}
	if *from != "" {
		var err error
		if opt.From, err = time.Parse(time.RFC3339Nano, *from); err != nil {
			fail(err)
		}
		if opt.To, err = time.Parse(time.RFC3339Nano, *to); err != nil {
			fail(err)
		}
	}
	if *okLog != "" {
		data, err := os.ReadFile(*okLog)
		if err != nil {
			fail(err)
		}
		opt.OKIDs = fairreport.ParseIDs(string(data))
	}
	ctx := context.Background()
	store, err := fairreport.Open(ctx, flag.Arg(0))
	if err != nil {
		fail(err)
	}
	defer store.Close()
	rep, err := fairreport.Build(ctx, store, opt)
	if err != nil {
		fail(err)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fail(err)
		}
		return
	}
	fmt.Print(rep.Text())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fairreport:", err)
	os.Exit(1)
}
