package scan

// OpenAIKeyRule returns the rule (RuleOpenAIKey, RuleOpenAIProjectKey, …)
// when v is exactly one OpenAI secret key shape, sk-…T3BlbkFJ…, with
// nothing around it; "" otherwise.
func OpenAIKeyRule(v []byte) string {
	rule := ""
	findOpenAIKeys(v, func(start, end int, r string) {
		if start == 0 && end == len(v) {
			rule = r
		}
	})
	return rule
}
