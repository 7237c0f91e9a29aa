// Package faults tests Keyward in process (internal/testenv: real loopback HTTP, a real
// SQLite file, the injected clock) under faults a child process cannot easily be given: a
// full disk, made with SQLite's real engine by capping the database's page count on every
// connection (SECURITY RL-10), and the wall clock stepping back or jumping forward (RL-08).
// The kill -9 loop, the SIGTERM path and a database locked by another process are in
// test/crash, which runs the real binary.
package faults
