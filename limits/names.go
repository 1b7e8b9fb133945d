package limits

// ProviderName reports whether s is a provider name okv accepts, as in
// "anthropic.rpm=30": a lowercase letter, then at most 31 lowercase
// letters, digits, '_' or '-'. VarName reports whether s is an
// environment variable name okv sets: an uppercase letter or '_', then
// uppercase letters, digits or '_'.
//
// Loops rather than regular expressions: the proxy checks its built-in
// providers in package init, so a regexp would be compiled on every okv
// start (GODEBUG=inittrace=1), and vault/, prices/, proxy/ and adopt/
// each kept their own copy of the pattern.
func ProviderName(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// VarName: see ProviderName.
func VarName(s string) bool {
	if len(s) == 0 || !(s[0] >= 'A' && s[0] <= 'Z' || s[0] == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
