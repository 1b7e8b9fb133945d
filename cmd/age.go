package cmd

import "filippo.io/age"

type ageIdentity = age.Identity
