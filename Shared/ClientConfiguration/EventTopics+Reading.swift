import Events
import ServiceConfiguration

extension EventTopics {
    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        self.init(movie: try reader.string(ClientConfigKeys.movieTopic), poll: try reader.string(ClientConfigKeys.pollTopic))
    }
}
