// Package vault owns okv's data at rest: the vault folder, its config, the
// per-profile age-encrypted documents, the unlock backends that produce the
// age identity, atomic locked writes, and the MAC-chained audit log.
//
// It also decides whether a profile may be used here, and how (Env.Use):
// a project vault or .okv-profile found from the working folder only once
// trusted (TrustStore), config.toml only where it agrees with the policy
// pinned inside the encrypted profile (Pin), a protected profile only once
// confirmed, its keys sent only to the pinned upstream (Upstream). No file
// of a vault is followed through a symbolic link, and a change of several
// files goes through a journal, so a crash completes it or leaves nothing.
//
// The package never prints and never reads a terminal itself: prompts are
// injected (see Prompter), errors are typed so the CLI can choose hints.
package vault
