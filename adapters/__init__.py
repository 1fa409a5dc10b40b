"""Keyless Entra ID authentication to Azure OpenAI."""
