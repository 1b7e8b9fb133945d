package cmd

import "github.com/okvault/okv/vault"

// unlockOwner unlocks v and checks that the identities open it. For
// commands that unlock only to show that the vault's owner is there (a
// proxied child holds the proxy's token, never the identity): any new key
// given by --identity would unlock, so an unchecked unlock proves nothing.
func (a *App) unlockOwner(v *vault.Vault) error {
	ids, err := a.unlock(v)
	if err != nil {
		return err
	}
	return v.CheckIdentities(ids)
}
