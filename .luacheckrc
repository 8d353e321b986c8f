std = "max"
max_line_length = 120
files["spec/**/*.lua"] = { std = "+busted" }
files["spec/*.lua"] = { std = "+busted" }
exclude_files = { "build/**" }
-- Code that runs inside nginx (lua-nginx-module) uses the `ngx` API.
files["spec/support/ngx_handlers.lua"] = { std = "max+ngx_lua" }
files["examples/openresty/*.lua"] = { std = "max+ngx_lua" }
files["src/kinesis_video_signaling/cache.lua"] = { std = "max+ngx_lua" }
