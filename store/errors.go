package store

import "errors"

var (
	// ErrNotFound: no row matched, or a single-use row was already consumed or has expired.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: a unique key (email, credential id, client id, …) is taken.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConflict: a concurrent writer won (serialization failure, busy database after retries,
	// optimistic check failed). The caller may retry the whole operation.
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable: the database cannot be reached or is locked beyond the busy timeout.
	// Surfaces answer 503 with Retry-After.
	ErrUnavailable = errors.New("store: unavailable")
)
