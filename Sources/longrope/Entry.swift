import CLI

@main
struct Entry {
    static func main() async {
        await LongRoPECommand.main()
    }
}
