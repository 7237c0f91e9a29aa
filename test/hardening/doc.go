// Package hardening holds black-box tests of SECURITY.md's hardening items that no feature
// package owns: resource limits and load shedding (RL-09), the operational endpoints kept off
// the public listener (RL-14), rate limits shared across replicas (RT-01), the security
// libraries pinned to the versions their regression tests cover (RL-13), and the session items
// SE-02, SE-03 and SE-05. The HTTP tests run a fully wired Keyward over loopback
// (internal/testenv) on a real SQLite file, or on PostgreSQL where replicas are involved
// (KEYWARD_TEST_POSTGRES). docs/security-model.md maps each id to its tests.
package hardening
