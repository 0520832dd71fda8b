// The Go anchor for `npm run bench`: a minimal mint the way Go sidecars commonly do it, with
// github.com/bradleyfalzon/ghinstallation (App JWT, then POST /app/installations/{id}/access_tokens),
// the token written to OUTPUT_PATH with mode 0600. Same environment as ghapp-token's mint.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"

	"github.com/bradleyfalzon/ghinstallation/v2"
)

func main() {
	appID, err := strconv.ParseInt(os.Getenv("APP_ID"), 10, 64)
	if err != nil {
		fail("APP_ID: %v", err)
	}
	installationID, err := strconv.ParseInt(os.Getenv("INSTALLATION_ID"), 10, 64)
	if err != nil {
		fail("INSTALLATION_ID: %v", err)
	}
	tr, err := ghinstallation.NewKeyFromFile(http.DefaultTransport, appID, installationID, os.Getenv("PRIVATE_KEY_FILE"))
	if err != nil {
		fail("key: %v", err)
	}
	tr.BaseURL = os.Getenv("GITHUB_API_URL")
	token, err := tr.Token(context.Background())
	if err != nil {
		fail("mint: %v", err)
	}
	if err := os.WriteFile(os.Getenv("OUTPUT_PATH"), []byte(token), 0o600); err != nil {
		fail("write: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "go-mint: "+format+"\n", args...)
	os.Exit(2)
}
