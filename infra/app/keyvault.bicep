// Key Vault (Azure RBAC, no access policies) for the SMTP password and the Graph client secret.
// A secret is written only when its value is given (azd env set SMTP_PASSWORD / GRAPH_CLIENT_SECRET),
// so a provision without it never overwrites one set by hand (az keyvault secret set). The app
// settings reference the versionless URIs below: the newest version is used.
param name string
param location string = resourceGroup().location
param tags object = {}

@secure()
param smtpPassword string = ''

@secure()
param graphClientSecret string = ''

var smtpPasswordName = 'smtp-password'
var graphClientSecretName = 'graph-client-secret'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource smtpPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(smtpPassword)) {
  parent: vault
  name: smtpPasswordName
  properties: {
    value: smtpPassword
  }
}

resource graphClientSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(graphClientSecret)) {
  parent: vault
  name: graphClientSecretName
  properties: {
    value: graphClientSecret
  }
}

output name string = vault.name
output smtpPasswordUri string = '${vault.properties.vaultUri}secrets/${smtpPasswordName}/'
output graphClientSecretUri string = '${vault.properties.vaultUri}secrets/${graphClientSecretName}/'
