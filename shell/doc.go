// Package shell owns okv's child processes: building the child's
// environment, replacing okv with the child (exec) or supervising it with
// signal forwarding, translating exit statuses, and output masking.
package shell
