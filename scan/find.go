package scan

// KeyMatch is one provider key shape found in a text: its byte range and
// the rule it matches.
type KeyMatch struct {
	Start, End int
	Rule       string
}

// FindKeys returns every provider key shape in data (the rules okv scan
// uses, without the vault-value rule), left to right.
func FindKeys(data []byte) []KeyMatch {
	var out []KeyMatch
	findOpenAIKeys(data, func(start, end int, rule string) {
		out = append(out, KeyMatch{Start: start, End: end, Rule: rule})
	})
	return out
}

// RuleProvider names the provider a rule's keys belong to ("openai"), and
// the variable its SDKs read the key from.
func RuleProvider(rule string) (provider, envVar string) {
	switch rule {
	case RuleOpenAIKey, RuleOpenAIProjectKey, RuleOpenAIServiceAccountKey:
		return "openai", "OPENAI_API_KEY"
	case RuleOpenAIAdminKey:
		return "openai", "OPENAI_ADMIN_KEY"
	}
	return "", ""
}
