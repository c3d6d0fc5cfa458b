# One query string per line on stdin; prints 1 when Rack's
# parse_nested_query (what Rails and Sinatra read) gives a top-level
# `_method`; a query Rack refuses (the application answers 400) reads
# nothing.
require 'rack'
STDIN.read.split("\n").each do |query|
  params = begin
    Rack::Utils.parse_nested_query(query)
  rescue Rack::QueryParser::InvalidParameterError, Rack::QueryParser::ParameterTypeError,
         Rack::QueryParser::ParamsTooDeepError
    {}
  end
  puts(params.key?('_method') ? '1' : '0')
end
