//go:build tools

// Package deps pins the modules the design names before every package imports them.
package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	_ "github.com/btcsuite/btcd/btcutil/base58"
	_ "github.com/chromedp/chromedp"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/go-chi/httprate"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/google/uuid"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/oklog/run"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/rabbitmq/amqp091-go"
	_ "github.com/schollz/progressbar/v3"
	_ "google.golang.org/grpc"
	_ "modernc.org/sqlite"
)
