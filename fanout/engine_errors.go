package fanout

import "errors"

// Sentinel errors of the engine (Fanout). The pure parts' sentinels live in
// errors.go.
var (
	// ErrInvalidConfig is wrapped by New when a Config field is invalid; the
	// message names the field.
	ErrInvalidConfig = errors.New("invalid fanout config")
	// ErrAlreadyStarted is returned by a second Start.
	ErrAlreadyStarted = errors.New("fanout already started")
	// ErrNotStarted is returned by Stop before Start.
	ErrNotStarted = errors.New("fanout not started")
	// ErrStopped is returned by Start after Stop: a stopped Fanout cannot be
	// restarted; build a new one with New.
	ErrStopped = errors.New("fanout stopped")
	// ErrInvalidTestEvent is wrapped by Test when the event type is not
	// dot-separated lowercase tokens or the data is not valid JSON.
	ErrInvalidTestEvent = errors.New("invalid test event")
)
