package kv

import "errors"

var (
	// ErrNotFound is returned when a webhook or delivery does not exist.
	ErrNotFound = errors.New("kv: not found")
	// ErrConflict is returned when a create names an id already taken, or a
	// state transition is not allowed (a manual retry of a pending delivery).
	ErrConflict = errors.New("kv: conflict")
	// ErrClosed is returned by any call after Close.
	ErrClosed = errors.New("kv: store closed")
	// ErrLocked is returned by Open when another process holds the store.
	ErrLocked = errors.New("kv: store is locked by another process")
)
