package blob_test

import (
	"testing"

	"callvault/internal/blob/blobtest"
	"callvault/internal/testenv"
	"callvault/internal/vault"
)

// The blob contract on Azure Blob Storage, as Azurite emulates it.
func TestAzuriteConformance(t *testing.T) {
	location := testenv.AzuriteContainer(t)
	blobtest.Run(t, func(t *testing.T) vault.BlobStore { return openDir(t, location) })
}
