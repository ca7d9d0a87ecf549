package lambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
	"github.com/nightjar-sec/nightjar/outputs/outputstest"
)

const (
	accessKey = "AKIDNIGHTJARTEST0001"
	secretKey = "nightjar/test/SECRET+key0123456789abcdef"
)

func testAlert() *alert.Alert {
	return &alert.Alert{
		Output: "Warning Sensitive file opened", Priority: alert.PriorityWarning,
		Rule: "Read sensitive file untrusted", Time: time.Date(2026, 11, 29, 16, 31, 56, 746609046, time.UTC),
		Source: "syscall", Hostname: "node-1", Tags: []string{"filesystem"},
		OutputFields: alert.Fields{"fd.name": "/etc/shadow", "evt.time": json.Number("1764433916746609046")},
	}
}

// sigV4 is the shape of a SigV4 Authorization header for the test key,
// region and the lambda service.
var sigV4 = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=` + accessKey + `/\d{8}/us-east-1/lambda/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$`)

type request struct {
	method, path, auth, invocationType, amzDate string
	body                                        []byte
}

// awsEnv points the SDK at url with static test credentials, and keeps it
// away from the machine's own AWS files and the instance metadata service.
func awsEnv(t *testing.T, url string) {
	t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", url)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
}

// server is a Lambda Invoke endpoint: it refuses unsigned requests and
// requests for other paths, and otherwise answers with respond.
func server(t *testing.T, respond func(w http.ResponseWriter)) (*httptest.Server, chan request) {
	ch := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- request{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("X-Amz-Invocation-Type"), r.Header.Get("X-Amz-Date"), b}
		if !sigV4.MatchString(r.Header.Get("Authorization")) || r.Header.Get("X-Amz-Date") == "" {
			w.Header().Set("X-Amzn-ErrorType", "MissingAuthenticationTokenException")
			w.WriteHeader(403)
			io.WriteString(w, `{"message":"Missing Authentication Token"}`)
			return
		}
		if r.Method != "POST" || r.URL.Path != "/2015-03-31/functions/alerts-fn/invocations" {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(404)
			io.WriteString(w, `{"Type":"User","message":"Function not found: `+r.URL.Path+`"}`)
			return
		}
		respond(w)
	}))
	t.Cleanup(srv.Close)
	awsEnv(t, srv.URL)
	return srv, ch
}

func build(t *testing.T, mod func(*Config)) outputs.Output {
	t.Helper()
	c := NewConfig()
	c.Lambda.FunctionName = "alerts-fn"
	if mod != nil {
		mod(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	o, err := c.New()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestInvokesWithAlertJSON(t *testing.T) {
	_, ch := server(t, func(w http.ResponseWriter) {
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		io.WriteString(w, `{"statusCode":200}`)
	})
	if err := build(t, nil).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	r := outputstest.Recv(t, ch)
	if r.invocationType != "RequestResponse" {
		t.Fatalf("invocation type %q", r.invocationType)
	}
	want, _ := testAlert().Encode()
	if string(r.body) != string(want) {
		t.Fatalf("payload\n got %s\nwant %s", r.body, want)
	}
	back, err := alert.Decode(r.body)
	if err != nil || back.Rule != "Read sensitive file untrusted" {
		t.Fatalf("payload is not the alert: %v", err)
	}
}

func TestEventInvocation(t *testing.T) {
	_, ch := server(t, func(w http.ResponseWriter) { w.WriteHeader(202) })
	if err := build(t, func(c *Config) { c.Lambda.InvocationType = "event" }).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	if r := outputstest.Recv(t, ch); r.invocationType != "Event" {
		t.Fatalf("invocation type %q", r.invocationType)
	}
}

func TestStaticCredentialsFromConfig(t *testing.T) {
	_, ch := server(t, func(w http.ResponseWriter) { io.WriteString(w, `null`) })
	// The environment's keys are wrong; the configured ones win.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDWRONG")
	err := build(t, func(c *Config) { c.AccessKeyID, c.SecretAccessKey, c.Region = accessKey, secretKey, "us-east-1" }).Send(context.Background(), testAlert())
	if err != nil {
		t.Fatal(err)
	}
	outputstest.Recv(t, ch)
}

func TestFunctionErrorIsAFailedDelivery(t *testing.T) {
	_, ch := server(t, func(w http.ResponseWriter) {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		io.WriteString(w, `{"errorMessage":"downstream refused","errorType":"Error","trace":[]}`)
	})
	err := build(t, nil).Send(context.Background(), testAlert())
	outputstest.Recv(t, ch)
	d := outputs.Classify(err)
	if d == nil || !d.Retryable || !strings.Contains(d.Reason, "Unhandled") || !strings.Contains(d.Reason, "downstream refused") {
		t.Fatalf("function error classified as %#v", d)
	}
}

func TestFailuresAreClassifiedAndScrubbed(t *testing.T) {
	for _, tc := range []struct {
		status     int
		errType    string
		retryAfter string
		body       string
		retryable  bool
		after      time.Duration
		want       string
	}{
		{429, "TooManyRequestsException", "4", `{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`, true, 4 * time.Second, "Rate Exceeded"},
		{500, "ServiceException", "", `{"Type":"Service","message":"internal failure"}`, true, 0, "ServiceException"},
		{502, "EC2UnexpectedException", "", `{"Type":"Service","message":"unexpected"}`, true, 0, "HTTP 502"},
		{401, "UnrecognizedClientException", "", `{"message":"The security token included in the request is invalid: ` + secretKey + `"}`, false, 0, "UnrecognizedClientException"},
		{403, "AccessDeniedException", "", `{"Type":"User","message":"not authorized to perform: lambda:InvokeFunction"}`, false, 0, "not authorized"},
		{404, "ResourceNotFoundException", "", `{"Type":"User","message":"Function not found"}`, false, 0, "Function not found"},
	} {
		t.Run(tc.errType, func(t *testing.T) {
			_, ch := server(t, func(w http.ResponseWriter) {
				w.Header().Set("X-Amzn-ErrorType", tc.errType)
				w.Header().Set("X-Amzn-RequestId", "req-1")
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			err := build(t, func(c *Config) { c.AccessKeyID, c.SecretAccessKey = accessKey, secretKey }).Send(context.Background(), testAlert())
			outputstest.Recv(t, ch)
			d := outputs.Classify(err)
			if d == nil || d.Retryable != tc.retryable || d.RetryAfter != tc.after || d.StatusCode != tc.status || !strings.Contains(d.Reason, tc.want) {
				t.Fatalf("classified as %#v", d)
			}
			if strings.Contains(err.Error(), secretKey) {
				t.Fatalf("secret key in %q", err)
			}
		})
	}
}

func TestTimeoutAndRefused(t *testing.T) {
	block := make(chan struct{})
	// The request may or may not reach the server before the deadline on
	// a loaded machine; either way the outcome is a timeout.
	server(t, func(w http.ResponseWriter) { <-block })
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := build(t, nil).Send(ctx, testAlert())
	if d := outputs.Classify(err); d == nil || !d.Retryable || !strings.Contains(d.Reason, "timeout") {
		t.Fatalf("timeout classified as %#v", d)
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	t.Setenv("AWS_ENDPOINT_URL", "http://"+addr)
	err = build(t, nil).Send(context.Background(), testAlert())
	if d := outputs.Classify(err); d == nil || !d.Retryable || strings.Contains(err.Error(), secretKey) {
		t.Fatalf("refused classified as %#v", d)
	}
}

func TestAWSEndpointURLLambdaWins(t *testing.T) {
	_, ch := server(t, func(w http.ResponseWriter) { io.WriteString(w, `{}`) })
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("general endpoint used for %s", r.URL.Path)
	}))
	defer srv2.Close()
	// The service-specific variable overrides the general one.
	lambdaURL := os.Getenv("AWS_ENDPOINT_URL")
	t.Setenv("AWS_ENDPOINT_URL", srv2.URL)
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", lambdaURL)
	if err := build(t, nil).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	outputstest.Recv(t, ch)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Lambda.FunctionName = "" }, "aws.lambda.functionname"},
		{func(c *Config) { c.Lambda.InvocationType = "DryRun" }, "aws.lambda.invocationtype"},
		{func(c *Config) { c.AccessKeyID = accessKey }, "aws.secretaccesskey"},
		{func(c *Config) { c.Lambda.Timeout = 0 }, "aws.lambda.timeout"},
		{func(c *Config) { c.ExternalID = "x-secret" }, "aws.externalid"},
		{func(c *Config) { c.RoleARN = "falco-invoker" }, "aws.rolearn"},
	} {
		c := NewConfig()
		c.Lambda.FunctionName = "fn"
		tc.mod(c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), accessKey) {
			t.Errorf("Validate() = %v, want error naming %s", err, tc.want)
		}
	}
	awsEnv(t, "http://127.0.0.1:9")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	c := NewConfig()
	c.Lambda.FunctionName = "fn"
	if _, err := c.New(); err == nil || !strings.HasPrefix(err.Error(), "aws.region") {
		t.Fatalf("New() without a region = %v", err)
	}
}

// TestAssumeRole shows aws.rolearn at work: the SDK first calls STS
// AssumeRole (signed with the base credentials, carrying the external ID),
// then signs the invocation with the role's temporary credentials.
func TestAssumeRole(t *testing.T) {
	const (
		roleKey   = "ASIAROLETEST00000001"
		roleToken = "role-session-token-e2e"
		roleARN   = "arn:aws:iam::123456789012:role/falco-invoker"
		extID     = "ext-id-secret-42"
	)
	type seen struct{ sts, lambda string }
	ch := make(chan seen, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if r.URL.Path == "/" {
			r.ParseForm()
			if r.PostForm.Get("Action") != "AssumeRole" || r.PostForm.Get("RoleArn") != roleARN || r.PostForm.Get("ExternalId") != extID ||
				!strings.Contains(auth, "Credential="+accessKey+"/") || !strings.Contains(auth, "/us-east-1/sts/aws4_request") {
				w.WriteHeader(403)
				io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>bad AssumeRole</Message></Error></ErrorResponse>`)
				return
			}
			ch <- seen{sts: r.PostForm.Get("RoleSessionName")}
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>`+
				`<Credentials><AccessKeyId>`+roleKey+`</AccessKeyId><SecretAccessKey>role-secret</SecretAccessKey>`+
				`<SessionToken>`+roleToken+`</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>`+
				`<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/falco-invoker/nightjar-sidekick</Arn><AssumedRoleId>AROA1:nightjar-sidekick</AssumedRoleId></AssumedRoleUser>`+
				`</AssumeRoleResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
			return
		}
		if r.URL.Path != "/2015-03-31/functions/alerts-fn/invocations" || !strings.Contains(auth, "Credential="+roleKey+"/") || r.Header.Get("X-Amz-Security-Token") != roleToken {
			w.Header().Set("X-Amzn-ErrorType", "AccessDeniedException")
			w.WriteHeader(403)
			io.WriteString(w, `{"message":"not the role's credentials"}`)
			return
		}
		ch <- seen{lambda: r.URL.Path}
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	awsEnv(t, srv.URL)
	o := build(t, func(c *Config) { c.RoleARN, c.ExternalID = roleARN, extID })
	if err := o.Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	if s := outputstest.Recv(t, ch); s.sts != "nightjar-sidekick" {
		t.Fatalf("first request %+v, want AssumeRole", s)
	}
	if s := outputstest.Recv(t, ch); s.lambda == "" {
		t.Fatalf("second request %+v, want the invocation", s)
	}
	// The temporary credentials are cached: no second AssumeRole.
	if err := o.Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	if s := outputstest.Recv(t, ch); s.lambda == "" {
		t.Fatalf("third request %+v, want an invocation", s)
	}
}

// Credentials that the SDK's chain takes from the environment
// (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) are scrubbed from every error
// as the file's are: here a destination echoes them in its error answer and
// in a function's error payload.
func TestEnvironmentCredentialsAreScrubbed(t *testing.T) {
	const token = "IQoJb3JpZ2luX2VjEnvSessionToken/secret+0123456789=="
	for _, tc := range []struct {
		name    string
		respond func(w http.ResponseWriter)
	}{
		{"400", func(w http.ResponseWriter) {
			w.Header().Set("X-Amzn-ErrorType", "InvalidRequestContentException")
			w.WriteHeader(400)
			io.WriteString(w, `{"Type":"User","message":"bad request signed with `+secretKey+` and token `+token+`"}`)
		}},
		{"function error", func(w http.ResponseWriter) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			io.WriteString(w, `{"errorMessage":"env was AWS_SECRET_ACCESS_KEY=`+secretKey+` AWS_SESSION_TOKEN=`+token+`","errorType":"Error"}`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ch := server(t, tc.respond)
			t.Setenv("AWS_SESSION_TOKEN", token) // AWS_SECRET_ACCESS_KEY is secretKey
			err := build(t, nil).Send(context.Background(), testAlert())
			outputstest.Recv(t, ch)
			if err == nil || !strings.Contains(err.Error(), "<secret>") || strings.Contains(err.Error(), secretKey) || strings.Contains(err.Error(), token) {
				t.Fatalf("error %v", err)
			}
		})
	}
}

// aws.lambda.logtype: Tail (the default, falcosidekick's) asks Lambda for
// the end of the function's log, which a function error's reason then
// quotes without the runtime's bookkeeping lines; None does not; with
// Event the log type is not sent (it applies to synchronous calls only).
func TestLogType(t *testing.T) {
	log := "START RequestId: r1 Version: $LATEST\n2026-11-29T16:31:57Z r1 ERROR connecting to the SIEM: refused\nEND RequestId: r1\nREPORT RequestId: r1 Duration: 3.1 ms\n"
	type seen struct{ logType string }
	ch := make(chan seen, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- seen{r.Header.Get("X-Amz-Log-Type")}
		if r.Header.Get("X-Amz-Invocation-Type") == "Event" {
			w.WriteHeader(202)
			return
		}
		if r.Header.Get("X-Amz-Log-Type") == "Tail" {
			w.Header().Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString([]byte(log)))
		}
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		io.WriteString(w, `{"errorMessage":"downstream refused","errorType":"Error"}`)
	}))
	defer srv.Close()
	awsEnv(t, srv.URL)

	err := build(t, nil).Send(context.Background(), testAlert())
	if s := outputstest.Recv(t, ch); s.logType != "Tail" {
		t.Fatalf("default log type %q", s.logType)
	}
	if d := outputs.Classify(err); d == nil || !strings.HasSuffix(d.Reason, "downstream refused; log: 2026-11-29T16:31:57Z r1 ERROR connecting to the SIEM: refused") {
		t.Fatalf("function error with the log's tail: %#v", d)
	}

	err = build(t, func(c *Config) { c.Lambda.LogType = "none" }).Send(context.Background(), testAlert())
	if s := outputstest.Recv(t, ch); s.logType != "None" {
		t.Fatalf("log type none: %q", s.logType)
	}
	if d := outputs.Classify(err); d == nil || strings.Contains(d.Reason, "log:") || !strings.Contains(d.Reason, "downstream refused") {
		t.Fatalf("function error without a log: %#v", d)
	}

	if err := build(t, func(c *Config) { c.Lambda.InvocationType = Event }).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	if s := outputstest.Recv(t, ch); s.logType != "" {
		t.Fatalf("log type %q sent with Event", s.logType)
	}

	c := NewConfig()
	c.Lambda.FunctionName, c.Lambda.LogType = "fn", "Full"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "aws.lambda.logtype") {
		t.Fatalf("logtype Full: %v", err)
	}
}

// A long log is cut to its end, on a character boundary.
func TestLogTailIsBounded(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("é", 1000) + "\nlast line"))
	got := logTail(&b64)
	if len(got) > maxLogTail+len("…") || !strings.HasPrefix(got, "…é") || !strings.HasSuffix(got, " | last line") || !utf8.ValidString(got) {
		t.Fatalf("tail %q (%d bytes)", got, len(got))
	}
}

// aws.checkidentity: when true, New calls STS GetCallerIdentity (at
// AWS_ENDPOINT_URL_STS here), signed with the output's credentials, and
// refuses to build the output when it fails, naming the key and never the
// secret. Off, the default, STS is not called.
func TestCheckIdentity(t *testing.T) {
	var fail atomic.Bool
	ch := make(chan string, 4)
	stsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		ch <- r.PostForm.Get("Action")
		auth := r.Header.Get("Authorization")
		if fail.Load() || r.URL.Path != "/" || r.PostForm.Get("Action") != "GetCallerIdentity" ||
			!strings.Contains(auth, "Credential="+accessKey+"/") || !strings.Contains(auth, "/us-east-1/sts/aws4_request") {
			w.WriteHeader(403)
			io.WriteString(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>`+
				`<Message>The security token included in the request is invalid: `+secretKey+`</Message></Error><RequestId>r1</RequestId></ErrorResponse>`)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>`+
			`<Arn>arn:aws:iam::123456789012:user/falco</Arn><UserId>AIDAFALCO</UserId><Account>123456789012</Account>`+
			`</GetCallerIdentityResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	}))
	defer stsSrv.Close()
	_, lambdaCh := server(t, func(w http.ResponseWriter) { io.WriteString(w, `{}`) })
	t.Setenv("AWS_ENDPOINT_URL_STS", stsSrv.URL)

	if NewConfig().CheckIdentity {
		t.Fatal("checkidentity is on by default")
	}
	if err := build(t, nil).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	outputstest.Recv(t, lambdaCh)
	if len(ch) != 0 {
		t.Fatalf("STS called with checkidentity off: %s", <-ch)
	}

	if err := build(t, func(c *Config) { c.CheckIdentity = true }).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	if a := outputstest.Recv(t, ch); a != "GetCallerIdentity" {
		t.Fatalf("STS action %q", a)
	}
	outputstest.Recv(t, lambdaCh)

	fail.Store(true)
	c := NewConfig()
	c.Lambda.FunctionName, c.CheckIdentity = "alerts-fn", true
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := c.New()
	outputstest.Recv(t, ch)
	if err == nil || !strings.HasPrefix(err.Error(), "aws.checkidentity: STS GetCallerIdentity failed") ||
		!strings.Contains(err.Error(), "InvalidClientTokenId") || strings.Contains(err.Error(), secretKey) {
		t.Fatalf("failed check: %v", err)
	}
}
