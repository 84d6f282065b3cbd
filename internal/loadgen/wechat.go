package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/silenceper/wechat/v2/util"
)

// benchWeChat plays WeChat's servers against a running Yihao: N safe-mode
// text pushes from N citizens (each starts a ticket), C at a time. It
// prints throughput and latency up to p99.999 (WeChat gives up after 5 s)
// and checks every reply carried a ticket number, no number twice.
func benchWeChat(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("yihao bench wechat", flag.ContinueOnError)
	fs.SetOutput(stdout)
	base := fs.String("url", "http://127.0.0.1:8080/wechat", "the message server")
	appID := fs.String("app-id", "", "the account's AppID")
	token := fs.String("token", "", "the account's Token")
	aesKey := fs.String("aes-key", "", "the account's EncodingAESKey (safe mode)")
	n := fs.Int("n", 10000, "pushes")
	c := fs.Int("c", 32, "pushes in flight")
	rate := fs.Float64("rate", 0, "pushes started per second (0: as fast as the workers go)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" || *aesKey == "" || *appID == "" {
		return errors.New("bench wechat: --app-id, --token and --aes-key are required")
	}
	ws, err := newWires(ctx, *base, *c, 10*time.Second)
	if err != nil {
		return fmt.Errorf("bench wechat: --url: %w", err)
	}
	defer ws.close()
	run := hex.EncodeToString(randomBytes(4))
	numberRE := regexp.MustCompile(`\d{14}`)
	var (
		mu      sync.Mutex
		lat     []time.Duration
		numbers = map[string]int{}
		fails   = map[string]int{}
	)
	start := time.Now()
	firstMsgID := start.UnixMicro() // distinct per run, one per push
	forEach(ctx, *c, *n, *rate, func(i int) {
		msg := fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[oBench%s%07d]]></FromUserName>`+
			`<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[压测：第 %d 条，路灯不亮]]></Content>`+
			`<MsgId>%d</MsgId></xml>`, run, i, time.Now().Unix(), i, firstMsgID+int64(i))
		t0 := time.Now()
		number, err := pushOnce(ws, *appID, *token, *aesKey, []byte(msg), numberRE)
		d := time.Since(t0)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			fails[err.Error()]++
			return
		}
		lat = append(lat, d)
		numbers[number]++
	})
	elapsed := time.Since(start)
	dup := 0
	for _, k := range numbers {
		dup += k - 1
	}
	slices.Sort(lat)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "pushed\t%d\n", *n)
	fmt.Fprintf(tw, "answered with a number\t%d\n", len(lat))
	fmt.Fprintf(tw, "numbers given twice\t%d\n", dup)
	fmt.Fprintf(tw, "elapsed\t%.3fs\n", elapsed.Seconds())
	fmt.Fprintf(tw, "throughput\t%.1f pushes/s\n", float64(len(lat))/elapsed.Seconds())
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", .5}, {"p99", .99}, {"p99.9", .999}, {"p99.999", .99999}, {"max", 1}} {
		v := "-"
		if len(lat) > 0 {
			v = ms(percentile(lat, p.q))
		}
		fmt.Fprintf(tw, "latency %s\t%s\n", p.name, v)
	}
	tw.Flush()
	printReasons(stdout, "failures", fails)
	if len(lat) != *n || dup != 0 {
		return fmt.Errorf("bench wechat: %d of %d pushes answered with a number, %d numbers twice", len(lat), *n, dup)
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails on Linux
	return b
}

// pushOnce encrypts and signs one push as WeChat does and returns the
// ticket number in the decrypted reply.
func pushOnce(ws *wires, appID, token, aesKey string, plain []byte, numberRE *regexp.Regexp) (string, error) {
	enc, err := util.EncryptMsg(randomBytes(16), plain, appID, aesKey)
	if err != nil {
		return "", err
	}
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), hex.EncodeToString(randomBytes(8))
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "encrypt_type": {"aes"},
		"signature": {util.Signature(token, ts, nonce)}, "msg_signature": {util.Signature(token, ts, nonce, string(enc))}}
	body := []byte("<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[" + string(enc) + "]]></Encrypt></xml>")
	status, answer, _, err := ws.do(http.MethodPost, "?"+q.Encode(), []string{"Content-Type: text/xml"}, body, 64<<10)
	if err != nil {
		return "", errors.New(errReason(err))
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("status %d", status)
	}
	var env struct {
		Encrypt string `xml:"Encrypt"`
	}
	if err := xml.Unmarshal(answer, &env); err != nil || env.Encrypt == "" {
		return "", errors.New("no encrypted reply")
	}
	_, reply, err := util.DecryptMsg(appID, env.Encrypt, aesKey)
	if err != nil {
		return "", errors.New("reply does not decrypt")
	}
	var text struct {
		Content string `xml:"Content"`
	}
	if err := xml.Unmarshal(reply, &text); err != nil {
		return "", errors.New("reply is not XML")
	}
	// The number in the words, not the OpenID (a hex run may be all digits).
	number := numberRE.FindString(text.Content)
	if number == "" {
		return "", errors.New("reply without a ticket number")
	}
	return number, nil
}
