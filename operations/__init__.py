"""One declaration per operation (``declaration.Operation``), grouped by area; ``catalog``
lists them all. ``rest_api`` derives the REST views and URLs from it, ``mcp_gateway`` the MCP
tools. To add an operation, add one declaration to the area's module."""
