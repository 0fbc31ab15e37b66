package bus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embeddedServerName is the embedded server's name (JetStream needs a
// stable one across restarts).
const embeddedServerName = "webhookd"

// readyPoll is how often startEmbedded checks readiness and fatal errors.
const readyPoll = 50 * time.Millisecond

// payloadHeadroom is room for task and trace headers above MaxEventBytes.
const payloadHeadroom = 64 << 10

// startEmbedded configures, starts and waits for the embedded nats-server.
func (b *Bus) startEmbedded(ctx context.Context) error {
	host, port, off, err := parseListen(b.cfg.Listen)
	if err != nil {
		return err
	}
	opts := &server.Options{
		ServerName: embeddedServerName,
		JetStream:  true,
		// The server appends "jetstream" itself: the store lands in
		// DataDir/jetstream.
		StoreDir:     b.cfg.DataDir,
		SyncAlways:   b.cfg.SyncAlways,
		SyncInterval: b.cfg.SyncInterval,
		// The process owns signals (cmd/webhookd); the server must not
		// install its own handlers.
		NoSigs: true,
		// No server-built logger; ours (below) forwards warnings to slog.
		NoLog:      true,
		DontListen: off,
		Host:       host,
		Port:       port,
		MaxPayload: int32(max(server.MAX_PAYLOAD_SIZE, b.cfg.MaxEventBytes+payloadHeadroom)),
	}
	if off {
		opts.Host, opts.Port = "127.0.0.1", -1
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("configure embedded nats: %w", err)
	}
	logger := &serverLogger{log: b.log.With("subsystem", "nats-server")}
	srv.SetLoggerV2(logger, false, false, false)

	// Start blocks through JetStream recovery and cannot be cancelled. On a
	// fatal error (store unusable, port taken) it returns without ever
	// becoming ready: poll so that ends Start at once, not at the timeout.
	srv.Start()
	deadline := time.Now().Add(b.cfg.StartTimeout)
	for !srv.ReadyForConnections(readyPoll) {
		err := ctx.Err()
		switch {
		case logger.fatal.Load() != nil:
			err = fmt.Errorf("%s: %w", *logger.fatal.Load(), ErrNotReady)
		case err != nil:
		case time.Now().After(deadline):
			err = fmt.Errorf("not ready within %s: %w", b.cfg.StartTimeout, ErrNotReady)
		default:
			continue
		}
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("start embedded nats: %w", err)
	}
	if msg := logger.fatal.Load(); msg != nil || !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		if msg != nil {
			return fmt.Errorf("start embedded nats: %s: %w", *msg, ErrNotReady)
		}
		return fmt.Errorf("start embedded nats: jetstream is not enabled: %w", ErrNotReady)
	}
	b.srv = srv
	if !off {
		b.clientURL = clientURL(srv.Addr())
	}
	return nil
}

// clientURL turns the listener's address into a URL a local publisher can
// dial: an unspecified bind address becomes loopback of the same family.
func clientURL(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta == nil {
		return ""
	}
	ip := ta.IP
	switch {
	case ip == nil || ip.IsUnspecified() && ip.To4() != nil:
		ip = net.IPv4(127, 0, 0, 1)
	case ip.IsUnspecified():
		ip = net.IPv6loopback
	}
	return "nats://" + net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))
}

// serverLogger adapts nats-server's logger to slog: warnings and errors
// keep their level, notices go to debug (startup chatter), debug and trace
// are never enabled. It remembers the first fatal message for Start.
type serverLogger struct {
	log   *slog.Logger
	fatal atomic.Pointer[string]
}

func (l *serverLogger) Noticef(format string, v ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, v...))
	}
}

func (l *serverLogger) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}

// Fatalf only logs: the server's own logger would exit the process.
func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.fatal.CompareAndSwap(nil, &msg)
	l.log.Error(msg, "fatal", true)
}

func (l *serverLogger) Errorf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...))
}

func (l *serverLogger) Debugf(format string, v ...any) {}

func (l *serverLogger) Tracef(format string, v ...any) {}
