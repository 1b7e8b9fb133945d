// Package vault owns okv's data at rest: the vault folder, its config, the
// per-profile age-encrypted documents, the unlock backends that produce the
// age identity, atomic locked writes, and the MAC-chained audit log.
//
// The package never prints and never reads a terminal itself: prompts are
// injected (see Prompter), errors are typed so the CLI can choose hints.
package vault
