"""The MCP domain's questions: which servers run, which are unhealthy, who provides a tool, what changed
in a server's tools. The tool history comes from MCPToolsChanged events (Event.summary lists them:
+added -removed ~changed)."""

from __future__ import annotations

from projections.named import NamedQuery, Param, with_constants

_SERVER = Param("server", str, None, "the server's name as declared")
QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "mcp-servers-running",
        "Which MCP servers are running?",
        "MATCH (s:MCPServer) WHERE s.status = $running "
        "RETURN s.host AS host, s.name AS server, s.version AS version, s.transport AS transport, "
        "s.deployment AS deployment, s.health AS health, s.latency_ms AS latency_ms, s.pid AS pid, "
        "s.restarts AS restarts, s.tools AS tools, s.updated_at AS since ORDER BY host, server",
        (),
        with_constants(running="running"),
    ),
    NamedQuery(
        "mcp-servers-unhealthy",
        "Which MCP servers are unhealthy? (the last probe failed, or it is down without being stopped)",
        "MATCH (s:MCPServer) WHERE s.health = $unhealthy OR s.status IN $down "
        "RETURN s.host AS host, s.name AS server, s.version AS version, s.status AS status, "
        "s.health AS health, s.health_detail AS detail, s.restarts AS restarts, s.updated_at AS since "
        "ORDER BY host, server",
        (),
        with_constants(unhealthy="unhealthy", down=["exited", "failed"]),
    ),
    NamedQuery(
        "mcp-tool-provider",
        "Which MCP server provides tool X? (--param tool=NAME)",
        "MATCH (s:MCPServer)-[:PROVIDES]->(t:MCPTool) WHERE t.name = $tool AND t.state = $present "
        "RETURN s.host AS host, s.name AS server, s.version AS version, s.status AS status, "
        "s.health AS health, t.description AS description, t.input_schema_hash AS input_schema_hash "
        "ORDER BY host, server",
        (Param("tool", str, None, "the tool's name"),),
        with_constants(present="present"),
    ),
    NamedQuery(
        "mcp-tool-changes",
        "What changed in server Y's tools? (--param server=NAME, days=N)",
        "MATCH (e:Event)-[:ACTED_ON]->(s:MCPServer) "
        "WHERE s.name = $server AND e.type = $type AND e.ts >= $since "
        "RETURN e.ts AS ts, s.host AS host, s.name AS server, e.old_version AS from_version, "
        "e.version AS to_version, e.summary AS change ORDER BY ts DESC",
        (_SERVER, Param("days", int, 30, "look back this many days")),
        with_constants(type="MCPToolsChanged"),
    ),
    NamedQuery(
        "mcp-servers",
        "Every declared MCP server and its state (--param server=NAME for one; '' = all)",
        "MATCH (s:MCPServer) WHERE $server = $all_servers OR s.name = $server "
        "RETURN s.host AS host, s.name AS server, s.version AS version, s.transport AS transport, "
        "s.deployment AS deployment, s.status AS status, s.health AS health, s.health_detail AS detail, "
        "s.latency_ms AS latency_ms, s.pid AS pid, s.container_id AS container_id, s.restarts AS restarts, "
        "s.tools AS tools, s.resources AS resources, s.prompts AS prompts, s.url AS url, s.image AS image, "
        "s.program AS program, s.updated_at AS updated_at ORDER BY host, server",
        (Param("server", str, "", "the server's name ('' = all)"),),
        with_constants(all_servers=""),
    ),
    NamedQuery(
        "mcp-server-tools",
        "Which tools does MCP server Y offer now? (--param server=NAME)",
        "MATCH (s:MCPServer)-[:PROVIDES]->(t:MCPTool) WHERE s.name = $server AND t.state = $present "
        "RETURN s.host AS host, t.name AS tool, t.description AS description, "
        "t.input_schema_hash AS input_schema_hash, t.first_seen AS first_seen ORDER BY host, tool",
        (_SERVER,),
        with_constants(present="present"),
    ),
)
