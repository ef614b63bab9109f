"""Adapters to Azure Table Storage and Queue Storage: the use cases' ports, kept in Azure."""
