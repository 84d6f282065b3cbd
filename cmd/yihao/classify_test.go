package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// classifyCSV is a small training set: three labels, eight examples each.
const classifyCSV = `text,label
人民路的路灯不亮了,0210
小区门口路灯坏了好几天,0210
路灯一闪一闪的,0210
这条街晚上路灯全黑,0210
路灯杆被车撞歪了,0210
公园里的路灯不亮,0210
桥上的路灯坏了,0210
路灯白天还亮着,0210
公司拖欠工资三个月,labor
老板不给发工资,labor
单位不交社保,labor
加班没有加班费,labor
工地欠农民工工资,labor
公司不签劳动合同,labor
辞退不给补偿,labor
工资被克扣,labor
家里暖气不热,urban-heating
暖气片冰凉,urban-heating
还没开始供暖,urban-heating
交了供暖费暖气不热,urban-heating
暖气漏水,urban-heating
热力公司电话打不通暖气不热,urban-heating
屋里只有十五度暖气不热,urban-heating
暖气上面热下面凉,urban-heating
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func classifyCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runClassify(context.Background(), args, &out, func() (Config, error) { return loadConfig("", func(string) string { return "" }) })
	return out.String(), err
}

func TestClassifyTrainEvalPredict(t *testing.T) {
	in := writeFile(t, "train.csv", classifyCSV)
	model := filepath.Join(t.TempDir(), "test.model")
	out, err := classifyCmd(t, "train", "--in", in, "--out", model, "--seed", "7")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"read 24 examples with 3 labels", "0210 (8), labor (8), urban-heating (8)", "trained svm in", "wrote " + model} {
		if !strings.Contains(out, want) {
			t.Errorf("train output lacks %q:\n%s", want, out)
		}
	}

	out, err = classifyCmd(t, "eval", "--model", model, "--in", in, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		N        int      `json:"n"`
		Accuracy *float64 `json:"accuracy"`
		MacroF1  *float64 `json:"macro_f1"`
		ECE      *float64 `json:"ece"`
		PerClass map[string]struct {
			Precision, Recall, F1 float64
			Support               int
		} `json:"per_class"`
		Labels    []string `json:"labels"`
		Confusion [][]int  `json:"confusion"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, out)
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("eval --json printed more than one line:\n%s", out)
	}
	if r.N != 24 || r.Accuracy == nil || r.MacroF1 == nil || r.ECE == nil {
		t.Fatalf("eval --json: n %d, accuracy %v, macro_f1 %v, ece %v", r.N, r.Accuracy, r.MacroF1, r.ECE)
	}
	// The training set itself: every example is learnt.
	if *r.Accuracy != 1 || *r.MacroF1 != 1 || *r.ECE < 0 || *r.ECE > 1 {
		t.Errorf("on its own training data: accuracy %v, macro-F1 %v, ECE %v", *r.Accuracy, *r.MacroF1, *r.ECE)
	}
	if len(r.PerClass) != 3 || r.PerClass["labor"].Support != 8 || r.PerClass["labor"].F1 != 1 {
		t.Errorf("per_class: %+v", r.PerClass)
	}
	if strings.Join(r.Labels, ",") != "0210,labor,urban-heating" || len(r.Confusion) != 3 || r.Confusion[1][1] != 8 {
		t.Errorf("labels %v, confusion %v", r.Labels, r.Confusion)
	}

	out, err = classifyCmd(t, "eval", "--model", model, "--in", in)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"accuracy  1.000", "macro-F1  1.000", "ECE", "precision", "support", "confusion matrix", "urban-heating"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}

	out, err = classifyCmd(t, "predict", "--model", model, "--text", "我们单位拖欠工资", "--k", "2")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "labor ") {
		t.Errorf("predict: want 2 lines, labor first:\n%s", out)
	}
}

func TestClassifyErrors(t *testing.T) {
	broken := writeFile(t, "broken.csv", "text,label\n路灯不亮,0210\n暖气不热,urban-heating\n欠薪,labor,extra\n")
	good := writeFile(t, "good.csv", classifyCSV)
	garbage := writeFile(t, "garbage.model", "this is not a model")
	dir := t.TempDir()
	model := filepath.Join(dir, "m")
	if _, err := classifyCmd(t, "train", "--in", good, "--out", model); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"fit"}, `unknown command "fit"`},
		{"broken row", []string{"train", "--in", broken, "--out", filepath.Join(dir, "x")}, "broken.csv: line 4: want 2 fields (text,label), got 3"},
		{"broken row in eval", []string{"eval", "--model", model, "--in", broken}, "line 4: want 2 fields"},
		{"missing --in", []string{"train", "--out", filepath.Join(dir, "x")}, "--in is required"},
		{"missing --out", []string{"train", "--in", good}, "--out is required"},
		{"missing --model", []string{"eval", "--in", good}, "--model is required"},
		{"missing --text", []string{"predict", "--model", model}, "--text is required"},
		{"unknown flag", []string{"train", "--in", good, "--out", model, "--bogus"}, "flag provided but not defined: -bogus"},
		{"bad seed", []string{"train", "--in", good, "--out", model, "--seed", "x"}, `invalid value "x" for flag -seed`},
		{"bad type", []string{"train", "--in", good, "--out", model, "--type", "rf"}, `--type "rf"`},
		{"bad k", []string{"predict", "--model", model, "--text", "x", "--k", "0"}, "--k must be at least 1"},
		{"stray argument", []string{"eval", "--model", model, "--in", good, "extra"}, "unexpected arguments"},
		{"missing file", []string{"eval", "--model", model, "--in", filepath.Join(dir, "none.csv")}, "no such file"},
		{"garbage model", []string{"predict", "--model", garbage, "--text", "x"}, "garbage.model: classify: not a classifier model"},
		{"one label", []string{"train", "--in", writeFile(t, "one.csv", "text,label\n路灯不亮,0210\n"), "--out", model}, "need at least 2 labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := classifyCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Errorf("a failed training left a model file behind (%v)", err)
	}
	for _, typ := range []string{"logreg", "cnb"} {
		out, err := classifyCmd(t, "train", "--in", good, "--out", filepath.Join(dir, typ), "--type", typ)
		if err != nil || !strings.Contains(out, "trained "+typ+" in") {
			t.Errorf("train --type %s: %v\n%s", typ, err, out)
		}
	}
	out, err := classifyCmd(t, "train", "-h")
	if err != nil || !strings.Contains(out, "usage:") {
		t.Errorf("train -h: %v\n%s", err, out)
	}
}
