// Package lambda invokes an AWS Lambda function with each alert's JSON as
// payload, with github.com/aws/aws-sdk-go-v2. Keys are falcosidekick's:
// aws.lambda.functionname (AWS_LAMBDA_FUNCTIONNAME),
// aws.lambda.invocationtype, aws.lambda.logtype, aws.lambda.minimumpriority,
// aws.region, aws.accesskeyid, aws.secretaccesskey, aws.rolearn,
// aws.externalid and aws.checkidentity.
// Everything else comes from the
// SDK's standard chain (AWS_ACCESS_KEY_ID, profiles, web identity, IMDS,
// AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_LAMBDA).
package lambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
)

// Type registers the Lambda output with the forwarder. Its section is
// falcosidekick's "aws", which holds the account settings; the output's own
// settings, the common ones included, sit under aws.lambda
// (AWS_LAMBDA_MINIMUMPRIORITY).
var Type = outputs.Type{Name: "aws", NewConfig: func() outputs.Config { return NewConfig() }}

// Invocation types.
const (
	RequestResponse = "RequestResponse"
	Event           = "Event"
)

// Config is the aws section.
type Config struct {
	// Region overrides AWS_REGION / the profile's region.
	Region string `yaml:"region"`
	// AccessKeyID and SecretAccessKey, when both set, replace the SDK's
	// credential chain with these static credentials.
	AccessKeyID     outputs.Secret `yaml:"accesskeyid"`
	SecretAccessKey outputs.Secret `yaml:"secretaccesskey"`
	// RoleARN, when set, is assumed (STS AssumeRole) with the credentials
	// above or the SDK's chain; ExternalID goes with it when the role's
	// trust policy asks for one.
	RoleARN    string         `yaml:"rolearn"`
	ExternalID outputs.Secret `yaml:"externalid"`
	// CheckIdentity, when true, has New call STS GetCallerIdentity with
	// the credentials the output will use (the role's, with rolearn), and
	// refuse to start when that fails, as falcosidekick checks at start.
	// Unlike falcosidekick it defaults to false: see DefaultCheckIdentity.
	CheckIdentity bool         `yaml:"checkidentity"`
	Lambda        LambdaConfig `yaml:"lambda"`
}

// DefaultCheckIdentity is aws.checkidentity's default. falcosidekick's is
// true, and it then drops its AWS outputs when the call fails. Here a
// failed check stops start-up (nothing is dropped silently), so true by
// default would make STS a start-up dependency for every existing Lambda
// set-up (and the sidekick's end-to-end test, whose local Lambda endpoint
// does not answer STS). Without the check, bad credentials show on the
// first delivery: a 401/403 from Lambda, a permanent failure, in the logs,
// /healthz and the dead letters.
const DefaultCheckIdentity = false

// Log types (aws.lambda.logtype).
const (
	LogTail = "Tail"
	LogNone = "None"
)

// LambdaConfig is the aws.lambda section.
type LambdaConfig struct {
	outputs.Common `yaml:",inline"`
	FunctionName   string `yaml:"functionname"`
	// InvocationType is RequestResponse (default: wait for the function,
	// so that its failure is a failed delivery) or Event (asynchronous).
	InvocationType string `yaml:"invocationtype"`
	// LogType is Tail (default, as in falcosidekick: Lambda returns the
	// end of the function's log, which a function error's reason then
	// quotes) or None. It applies to RequestResponse only; with Event it
	// is not sent.
	LogType string `yaml:"logtype"`
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{CheckIdentity: DefaultCheckIdentity,
		Lambda: LambdaConfig{Common: outputs.DefaultCommon(), InvocationType: RequestResponse, LogType: LogTail}}
}

// Enabled reports whether a function name is set.
func (c *Config) Enabled() bool { return c.Lambda.FunctionName != "" }

// Shared returns the common settings.
func (c *Config) Shared() *outputs.Common { return &c.Lambda.Common }

// Validate checks every setting; errors name the key under "aws".
func (c *Config) Validate() error {
	if err := c.Lambda.Common.Validate("aws.lambda"); err != nil {
		return err
	}
	if c.Lambda.FunctionName == "" {
		return &outputs.ConfigError{Key: "aws.lambda.functionname", Problem: "not set"}
	}
	switch strings.ToLower(c.Lambda.InvocationType) {
	case strings.ToLower(RequestResponse):
		c.Lambda.InvocationType = RequestResponse
	case strings.ToLower(Event):
		c.Lambda.InvocationType = Event
	default:
		return &outputs.ConfigError{Key: "aws.lambda.invocationtype", Problem: fmt.Sprintf("%q is not RequestResponse or Event", c.Lambda.InvocationType)}
	}
	switch strings.ToLower(c.Lambda.LogType) {
	case "tail":
		c.Lambda.LogType = LogTail
	case "none":
		c.Lambda.LogType = LogNone
	default:
		return &outputs.ConfigError{Key: "aws.lambda.logtype", Problem: fmt.Sprintf("%q is not Tail or None", c.Lambda.LogType)}
	}
	if c.AccessKeyID.IsSet() != c.SecretAccessKey.IsSet() {
		return &outputs.ConfigError{Key: "aws.secretaccesskey", Problem: "aws.accesskeyid and aws.secretaccesskey go together"}
	}
	if c.ExternalID.IsSet() && c.RoleARN == "" {
		return &outputs.ConfigError{Key: "aws.externalid", Problem: "needs aws.rolearn"}
	}
	if c.RoleARN != "" && !strings.HasPrefix(c.RoleARN, "arn:") {
		return &outputs.ConfigError{Key: "aws.rolearn", Problem: fmt.Sprintf("%q is not an ARN (arn:aws:iam::<account>:role/<name>)", c.RoleARN)}
	}
	return nil
}

// Lambda is the output.
type Lambda struct {
	client   *lambda.Client
	function string
	invoke   types.InvocationType
	logType  types.LogType // "" with Event
	secrets  []string
}

// New builds the output and its one client; call Validate first. It loads
// the SDK's configuration (environment, shared files); it makes no request
// unless aws.checkidentity is true.
func (c *Config) New() (outputs.Output, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(c.Lambda.Timeout).WithTransportOptions(
			func(t *http.Transport) { t.MaxIdleConnsPerHost = c.Lambda.MaxConcurrentRequests })),
		// The forwarder retries with its own backoff and queue; the SDK
		// must not retry behind its back.
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	// Credentials the SDK's chain takes from the environment are as secret
	// as the file's: destinations and the SDK may echo them. (Those it
	// gets from profiles, web identity or instance roles are never seen
	// here.)
	secrets := envSecrets()
	if c.AccessKeyID.IsSet() {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID.Reveal(), c.SecretAccessKey.Reveal(), "")))
		secrets = append(secrets, c.SecretAccessKey.Reveal(), c.AccessKeyID.Reveal())
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("aws: loading the SDK configuration: %s", outputs.Scrub(err.Error(), secrets...))
	}
	if cfg.Region == "" {
		return nil, &outputs.ConfigError{Key: "aws.region", Problem: "not set (nor AWS_REGION, nor a profile's region)"}
	}
	if c.RoleARN != "" {
		ext := c.ExternalID.Reveal()
		if ext != "" {
			secrets = append(secrets, ext)
		}
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), c.RoleARN,
			func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = "nightjar-sidekick"
				if ext != "" {
					o.ExternalID = aws.String(ext)
				}
			}))
	}
	// Longest first, so that a part is never scrubbed before the whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	if c.CheckIdentity {
		if err := checkIdentity(cfg, c.Lambda.Timeout, secrets); err != nil {
			return nil, err
		}
	}
	l := &Lambda{
		client:   lambda.NewFromConfig(cfg),
		function: c.Lambda.FunctionName,
		invoke:   types.InvocationType(c.Lambda.InvocationType),
		secrets:  secrets,
	}
	if l.invoke == types.InvocationTypeRequestResponse {
		l.logType = types.LogType(c.Lambda.LogType)
	}
	return l, nil
}

// checkIdentity calls STS GetCallerIdentity with the output's credentials
// (aws.checkidentity): an error means they do not work. The SDK sends it to
// STS's regional endpoint, or AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL.
func checkIdentity(cfg aws.Config, timeout time.Duration, secrets []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		return &outputs.ConfigError{Key: "aws.checkidentity", Problem: "STS GetCallerIdentity failed, so the AWS credentials do not work (set aws.checkidentity to false to skip this check): " +
			outputs.Scrub(err.Error(), secrets...)}
	}
	return nil
}

// secretEnv are the variables through which the SDK's chain takes
// credentials from the environment (with the SDK's older aliases), and the
// ECS container credentials' authorization token.
var secretEnv = []string{
	"AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
	"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
}

// envSecrets returns the values of secretEnv that are set.
func envSecrets() []string {
	var s []string
	for _, v := range secretEnv {
		if val := os.Getenv(v); val != "" {
			s = append(s, val)
		}
	}
	return s
}

// Send invokes the function with the alert's Falco JSON.
func (l *Lambda) Send(ctx context.Context, a *alert.Alert) error {
	payload, err := a.Encode()
	if err != nil {
		return outputs.Permanent("encoding alert: " + err.Error())
	}
	out, err := l.client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(l.function),
		InvocationType: l.invoke,
		LogType:        l.logType,
		Payload:        payload,
	})
	if err != nil {
		return l.classify(err)
	}
	if out.FunctionError != nil {
		// The function ran and failed (Handled or Unhandled): the alert was
		// not processed. Its own code may recover (a dependency back up),
		// so this is retried until the message's max age.
		reason := fmt.Sprintf("function error (%s): %s", *out.FunctionError, errorMessage(out.Payload))
		if tail := logTail(out.LogResult); tail != "" {
			reason += "; log: " + tail
		}
		return outputs.Retryable(outputs.Scrub(reason, l.secrets...), 0)
	}
	return nil
}

// classify turns an SDK error into a delivery error. The SDK reports HTTP
// failures as *awshttp.ResponseError carrying the status and the service's
// error code and message.
func (l *Lambda) classify(err error) error {
	var re *awshttp.ResponseError
	// A request that never got an answer (timeout, refused) can still come
	// back wrapped as a ResponseError, with status 0.
	if errors.As(err, &re) && re.Response != nil && re.HTTPStatusCode() != 0 {
		text := re.Err.Error()
		var api smithy.APIError
		if errors.As(err, &api) {
			text = api.ErrorCode() + ": " + api.ErrorMessage()
		}
		retryAfter := re.Response.Header.Get("Retry-After")
		var tooMany *types.TooManyRequestsException
		if retryAfter == "" && errors.As(err, &tooMany) && tooMany.RetryAfterSeconds != nil {
			retryAfter = *tooMany.RetryAfterSeconds
		}
		return outputs.StatusError(re.HTTPStatusCode(), retryAfter, text, l.secrets...)
	}
	return outputs.TransportError(err, l.secrets...)
}

// maxLogTail bounds the end of a function's log quoted in its error.
const maxLogTail = 512

// logTail returns the end of the function's log that Lambda returned with
// LogType Tail (base64, up to 4 KB), without the runtime's START, END and
// REPORT lines, on one line (" | " between lines), at most maxLogTail
// bytes; "" when there is none.
func logTail(b64 *string) string {
	if b64 == nil || *b64 == "" {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(*b64)
	if err != nil || !utf8.Valid(raw) {
		return ""
	}
	var lines []string
	for _, ln := range strings.Split(string(raw), "\n") {
		ln = strings.TrimSpace(ln)
		if ln == "" || strings.HasPrefix(ln, "START RequestId:") || strings.HasPrefix(ln, "END RequestId:") || strings.HasPrefix(ln, "REPORT RequestId:") {
			continue
		}
		lines = append(lines, ln)
	}
	s := strings.Join(lines, " | ")
	if len(s) > maxLogTail {
		s = s[len(s)-maxLogTail:]
		for !utf8.RuneStart(s[0]) { // do not start inside a character
			s = s[1:]
		}
		s = "…" + s
	}
	return s
}

// errorMessage extracts errorType and errorMessage from a function's error
// payload ({"errorMessage":"...","errorType":"..."}).
func errorMessage(payload []byte) string {
	var p struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if json.Unmarshal(payload, &p) == nil && (p.Message != "" || p.Type != "") {
		return strings.TrimPrefix(p.Type+": "+p.Message, ": ")
	}
	if len(payload) > 512 {
		payload = payload[:512]
	}
	if !utf8.Valid(payload) {
		return "(binary payload)"
	}
	return string(payload)
}
