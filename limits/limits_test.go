package limits

import (
	"math"
	"testing"
)

func TestModelAllowed(t *testing.T) {
	l := Limits{Models: []string{"gpt-4o-mini", "o3*", " "}}
	for m, want := range map[string]bool{"gpt-4o-mini": true, "gpt-4o": false, "o3": true, "o3-mini": true, "": false, "gpt-4o-mini-2": false} {
		if got := l.ModelAllowed(m); got != want {
			t.Errorf("%q: %v, want %v", m, got, want)
		}
	}
	if !(Limits{}).ModelAllowed("anything") {
		t.Error("no restriction refused a model")
	}
}

func TestEndpointAllowed(t *testing.T) {
	l := Limits{Endpoints: []string{"/v1/chat/completions", "embeddings", "/files/"}}
	for p, want := range map[string]bool{
		"/v1/chat/completions": true, "/v1/chat/completions/x": true, "/v1/chat/completionsx": false,
		"/v1/embeddings": true, "/v1/files": true, "/v1/files/f-1/content": true, "/v1/models": false, "/v1": false,
	} {
		if got := l.EndpointAllowed("/v1", p); got != want {
			t.Errorf("%q: %v, want %v", p, got, want)
		}
	}
}

func TestCheckAndBody(t *testing.T) {
	if (Limits{RPM: -1}).Check() == nil || (Limits{DailyTokens: -1}).Check() == nil || (Limits{}).Check() != nil {
		t.Error("Check")
	}
	for _, bad := range []Limits{{DailyUSD: -1}, {MonthlyUSD: math.NaN()}, {WarnUSD: math.Inf(1)}, {MaxOutputTokens: -1}} {
		if bad.Check() == nil {
			t.Errorf("Check accepted %+v", bad)
		}
	}
	if !(Limits{DailyUSD: 5}).USD() || (Limits{WarnUSD: 5}).USD() || !(Limits{WarnUSD: 5}).Any() {
		t.Error("USD, Any")
	}
	if (Limits{}).Body() != DefaultMaxBody || (Limits{MaxBody: 5}).Body() != 5 {
		t.Error("Body")
	}
	if (Limits{}).Any() || !(Limits{TPM: 1}).Any() {
		t.Error("Any")
	}
}
