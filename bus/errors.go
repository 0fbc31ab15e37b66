package bus

import "errors"

// ErrEventGone is returned by GetEvent for an event the stream no longer holds.
var ErrEventGone = errors.New("event no longer retained")

// ErrInvalidPattern is wrapped by ParsePattern's errors.
var ErrInvalidPattern = errors.New("invalid event pattern")

// ErrInvalidConfig is wrapped by Start's errors about a bad Config field.
var ErrInvalidConfig = errors.New("invalid bus config")

// ErrInvalidEnvelope is what every *EnvelopeError unwraps to.
var ErrInvalidEnvelope = errors.New("invalid envelope")

// ErrInvalidTask is wrapped by ParseTask's and PublishTasks' errors about a
// malformed task.
var ErrInvalidTask = errors.New("invalid task")

// ErrInvalidEvent is wrapped by PublishEvent's errors about its arguments
// (empty id, bad type, body over MaxEventBytes).
var ErrInvalidEvent = errors.New("invalid event")

// ErrNotReady is returned by Start when the embedded server does not become
// ready for connections within Config.StartTimeout.
var ErrNotReady = errors.New("nats server not ready")

// ErrStreamConflict is returned by Start when an existing stream that
// webhookd does not own cannot serve its purpose (e.g. an operator's EVENTS
// stream that does not cover "<prefix>.>").
var ErrStreamConflict = errors.New("incompatible existing stream")
