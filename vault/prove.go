package vault

import (
	"errors"

	"filippo.io/age"
)

// ErrNoProfiles is CheckIdentities' answer for a vault with no profile:
// nothing can show that an identity is this vault's.
var ErrNoProfiles = errors.New("the vault has no profile to check the identity against")

// CheckIdentities reports whether ids open this vault: they decrypt one of
// its profiles, the default one first. An unlock alone proves nothing (an
// identity file of any new key "unlocks"), so a command that unlocks only
// to show that the vault's owner is there, not a child holding the
// proxy's token (okv price set, okv usage --reset-ledger), calls this.
func (v *Vault) CheckIdentities(ids []age.Identity) error {
	names, err := v.ProfileNames()
	if err != nil {
		return err
	}
	if d := v.Config.DefaultProfile; d != "" && v.HasProfile(d) {
		names = append([]string{d}, names...)
	}
	if len(names) == 0 {
		return ErrNoProfiles
	}
	_, err = v.Load(names[0], ids)
	return err
}
