import Events
import Testing

@Suite("A domain's two fixed spellings: the events' and storage's, and the API's and registry's")
struct EventDomainTests {
    @Test("rawValue is the events' prefix and the stored spelling; name is the API's, the trainer's and the registry's")
    func spellings() {
        #expect(EventDomain.movie.rawValue == "movie")
        #expect(EventDomain.poll.rawValue == "poll")
        #expect(EventDomain.movie.name == "movies")
        #expect(EventDomain.poll.name == "polls")
        #expect(EventDomain.allCases.map(\.name) == ["movies", "polls"])
    }

    @Test("init(name:) takes exactly the names back")
    func parsing() {
        for domain in EventDomain.allCases { #expect(EventDomain(name: domain.name) == domain) }
        #expect(EventDomain(name: "movie") == nil)
        #expect(EventDomain(name: "Movies") == nil)
        #expect(EventDomain(name: "") == nil)
    }
}
