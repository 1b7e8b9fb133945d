package cmd

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/okvault/okv/openai"
	"github.com/okvault/okv/vault"
)

// runRemoteUsage prints the organization-side usage of the profile's
// OPENAI_API_KEY per day over the last since, from the OpenAI Admin API
// (completions usage grouped by API key). profile "" means the usual
// resolution (-p, OKV_PROFILE, .okv-profile, default). The admin key comes
// from the "admin" profile and the API from OKV_OPENAI_ADMIN_BASE_URL or
// the OpenAI API; runRemoteUsageWith takes both explicitly.
//
// `okv usage --remote` calls this; the local proxy ledger is the usage
// command's own business.
func (a *App) runRemoteUsage(profile string, since time.Duration) error {
	return a.runRemoteUsageWith(profile, since, adminOptions{})
}

func (a *App) runRemoteUsageWith(profile string, since time.Duration, adm adminOptions) error {
	if since <= 0 {
		since = 30 * 24 * time.Hour
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	if profile == "" {
		if profile, err = a.profile(v); err != nil {
			return err
		}
	} else if !v.HasProfile(profile) {
		return &vault.ProfileNotFoundError{Name: profile}
	}
	adm = adm.withDefaults(a.Getenv)
	ids, err := a.unlock(v)
	if err != nil {
		return err
	}
	doc, err := v.Load(profile, ids)
	if err != nil {
		return err
	}
	s, err := doc.Secret(defaultSecret)
	if err != nil {
		return err
	}
	client, err := a.adminClient(v, ids, adm, "okv usage --remote")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	pol := v.Config.Policy(profile)
	keyID := pol.APIKeyID
	if keyID == "" {
		if keyID, err = a.lookupKeyID(ctx, client, adm, profile, pol.Project, s.Value); err != nil {
			return err
		}
	}
	if err := openai.ValidateID("api key id", keyID); err != nil {
		return err
	}
	now := a.Now()
	start := now.Add(-since).UTC().Truncate(24 * time.Hour)
	buckets, err := client.CompletionsUsage(ctx, openai.UsageQuery{
		Start: start, BucketWidth: "1d", GroupBy: []string{"api_key_id"}, APIKeyIDs: []string{keyID},
	})
	if err != nil {
		return &adminCallError{Step: "reading the completions usage", AdminProfile: adm.profile, Err: err}
	}
	fmt.Fprintf(a.Stderr, "okv: usage of %s in profile %s (OpenAI key %s) since %s, from the OpenAI Admin API\n",
		defaultSecret, profile, keyID, start.Format("2006-01-02"))
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "DATE\tREQUESTS\tINPUT TOKENS\tCACHED\tOUTPUT TOKENS\t")
	var total openai.UsageResult
	for _, b := range buckets {
		var day openai.UsageResult
		for _, r := range b.Results {
			// The API filters by key already; a result grouped under another
			// key (a server ignoring api_key_ids) is not this key's usage.
			if r.APIKeyID != "" && r.APIKeyID != keyID {
				continue
			}
			addUsage(&day, r)
		}
		addUsage(&total, day)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", time.Unix(b.StartTime, 0).UTC().Format("2006-01-02"),
			day.NumModelRequests, day.InputTokens, day.InputCachedTokens, day.OutputTokens)
	}
	fmt.Fprintf(tw, "TOTAL\t%d\t%d\t%d\t%d\t\n", total.NumModelRequests, total.InputTokens, total.InputCachedTokens, total.OutputTokens)
	return tw.Flush()
}

func addUsage(sum *openai.UsageResult, r openai.UsageResult) {
	sum.NumModelRequests += r.NumModelRequests
	sum.InputTokens += r.InputTokens
	sum.InputCachedTokens += r.InputCachedTokens
	sum.OutputTokens += r.OutputTokens
	sum.InputAudioTokens += r.InputAudioTokens
	sum.OutputAudioTokens += r.OutputAudioTokens
}

// lookupKeyID finds the OpenAI id of a key okv did not create, by matching
// its value against the redacted values the project lists.
func (a *App) lookupKeyID(ctx context.Context, client *openai.Client, adm adminOptions, profile, project, value string) (string, error) {
	if project == "" {
		return "", withHints(fmt.Errorf("okv does not know the OpenAI id of %s in profile %s, which the usage report is keyed by", defaultSecret, profile),
			fmt.Sprintf("add project = \"proj_…\" under [profiles.%s] in config.toml so okv can look the key up, or api_key_id = \"key_…\" (listed in the dashboard)", profile),
			"keys rotated with 'okv rotate --service-account' are known automatically")
	}
	keys, err := client.ProjectAPIKeys(ctx, project)
	if err != nil {
		return "", &adminCallError{Step: "listing the API keys of project " + project, AdminProfile: adm.profile, Err: err}
	}
	var found []string
	for _, k := range keys {
		if openai.MatchRedacted(k.RedactedValue, value) {
			found = append(found, k.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", withHints(fmt.Errorf("no API key of project %s matches %s in profile %s", project, defaultSecret, profile),
			fmt.Sprintf("check the project, or add api_key_id = \"key_…\" under [profiles.%s] in config.toml", profile))
	}
	return "", withHints(fmt.Errorf("several API keys of project %s match %s in profile %s: %s", project, defaultSecret, profile, strings.Join(found, ", ")),
		fmt.Sprintf("add the right one as api_key_id = \"key_…\" under [profiles.%s] in config.toml", profile))
}
