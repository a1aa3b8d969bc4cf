package main

import (
	"io"
	"log/slog"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy"
)

func version() string      { return proxy.Version }
func protocolVersion() int { return connectors.ProtocolVersion }

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
